"""verification: opens a case per report and classifies it (true, untrue, malicious, inconclusive)."""
