"""DICOM media: File-sets and their DICOMDIR (PS3.10 §8, PS3.3 F Basic Directory IOD, PS3.11
application profiles, PS3.12 Annex V ZIP File Media).

- :class:`FileSet` reads a DICOMDIR into a tree of :class:`Record` (patient → study → series →
  instance), adds and removes instances, writes the DICOMDIR back with its offsets computed;
- :func:`create` makes a File-set of the files under a folder for an application profile;
- :func:`iter_zip` / :func:`write_zip` stream a ZIP with a DICOMDIR at its root.
"""

from __future__ import annotations

from dicomkit.media.create import Created, ZipEntry, create, iter_zip, write_zip
from dicomkit.media.errors import MediaError
from dicomkit.media.fileset import FileSet, Record
from dicomkit.media.profiles import DEFAULT, PROFILES, Profile, profile

__all__ = ["DEFAULT", "PROFILES", "Created", "FileSet", "MediaError", "Profile", "Record",
           "ZipEntry", "create", "iter_zip", "profile", "write_zip"]
