"""One router per resource; each is thin over the gateway and the stage libraries."""
