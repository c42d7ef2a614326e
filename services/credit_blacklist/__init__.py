"""credit_blacklist: lists malicious accusers with notice, objection, periods, expiry and a fast check."""
