"""The SQLite backend passes the storage conformance suite."""

import os

import pytest

from client_kit.field_cipher import FieldCipher

from server.storage.sqlite import SQLiteStorage

from storage_conformance import StorageConformance


@pytest.fixture
def storage(tmp_path):
    backend = SQLiteStorage(str(tmp_path / "server.sqlite"))
    backend.upgrade()
    yield backend
    backend.close()


class TestSQLiteStorage(StorageConformance):
    pass


class TestSealedSQLiteStorage(StorageConformance):
    """The same contract with a data key: sensitive values sealed at rest."""

    @pytest.fixture
    def storage(self, tmp_path):
        backend = SQLiteStorage(str(tmp_path / "server.sqlite"), FieldCipher(os.urandom(32)))
        backend.upgrade()
        yield backend
        backend.close()
