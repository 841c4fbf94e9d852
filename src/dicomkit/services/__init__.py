"""PS3.4 service classes: the rules of each service, independent of where data lives."""
