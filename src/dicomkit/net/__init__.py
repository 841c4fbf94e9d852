"""DICOM networking: the PS3.8 upper layer and PS3.7 DIMSE, on asyncio."""
