from client_kit.store import DeviceStore


def test_a_fresh_store_opens_with_an_empty_outbox(tmp_path):
    store = DeviceStore.open(tmp_path / "device.sqlite", device_id="dev-a")
    assert store.pending_count() == 0
    assert store.device_id == "dev-a"
