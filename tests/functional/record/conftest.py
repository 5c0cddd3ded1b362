"""The record's FHIR fixtures, shared by its test modules."""

from tests.functional.record.test_fhir_api import (  # noqa: F401 (fixtures)
    ehr,
    open_program,
    record,
)
