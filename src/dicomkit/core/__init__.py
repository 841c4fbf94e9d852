"""The DICOM data model (PS3.5 §6-7, PS3.6): tags, VRs, elements, data sets, dictionary."""
