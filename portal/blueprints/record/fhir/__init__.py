"""FHIR R4 output of the record: one mapping module per resource type."""
