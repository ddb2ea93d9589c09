from fpstation.settings import Settings


def test_roundtrip_and_damaged_file(tmp_path):
    p = tmp_path / "settings.json"
    s = Settings.load(p)
    assert s.restorer == "unet"
    s.restorer = "classical"
    s.pad_threshold = 0.3
    s.save()
    s2 = Settings.load(p)
    assert (s2.restorer, s2.pad_threshold) == ("classical", 0.3)
    p.write_text("{not json")
    assert Settings.load(p).restorer == "unet"
