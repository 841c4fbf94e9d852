"""HL7 v2 for the RIS feed: MLLP framing (:mod:`.mllp`), messages parsed with hl7apy and mapped
to DICOM Modality Worklist operations as IHE RAD TF-2 Scheduled Workflow does (:mod:`.messages`,
:mod:`.mapping`), and acknowledgements (:mod:`.ack`).

Independent of the archive: the operations are plain data (``NewOrder``, ``UpdateOrder``, ...)
that :mod:`dicomkit.archive.ris` applies to the worklist store.
"""
