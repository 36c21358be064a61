"""refint8's backend conformance suite (filled by the conformance issue; see README.md)."""
