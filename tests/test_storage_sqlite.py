"""The SQLite backend passes the storage conformance suite."""

import pytest

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
