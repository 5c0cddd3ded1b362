"""The clinical record: the staff timeline, the FHIR R4 API for EHRs with Part 2 consent
and an accounting of every disclosure, and the patient's own copy."""
