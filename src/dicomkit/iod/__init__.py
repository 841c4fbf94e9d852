"""IOD-level building blocks (PS3.3): coded concepts and context groups (:mod:`.codes`), and
what the object families (SR, SEG, presentation states, derived images, encapsulated
documents) share."""
