"""weights.json covers every released weight file, with the published facts; docs/releases.md says the same.

The explicit list below is every released weight file of the VMZ 2018 table, the HMDB51 minidb, the VMZ 2019
zoo with its name variants, the Gradient-Blending files, the ig65m-pytorch and bjuncek/VMZ ports and
torchvision. The release list in docs/releases.md must name exactly these files (every backticked token that
is a whole file name ending in .pkl, .pth, .mdl or .pb), and its rows must carry each file's Dropbox id and
the accuracies weights.json records.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from zoo.weights import load_registry

RELEASED_FILES = {
    # VMZ 2018 table (models.md): 24 ResNet-style files, C3D, the three R(2+1)D-34 32-frame files.
    *(f"{m}_d18_l{t}.pkl" for t in (8, 16)
      for m in ("r2.5d", "r3d", "r2d", "r2df", "mc2", "mc3", "mc4", "mc5", "rmc2", "rmc3", "rmc4", "rmc5")),
    "c3d_l16.pkl", "r2.5d_d34_l32.pkl", "r2.5d_d34_l32_ft_sports1m.pkl",
    "r2.5d_d34_l32_ft_sports1m_optical_flow.pkl",
    # HMDB51 fine-tune (minidb).
    "r2plus1d_d34_l32_ft_hmdb51_epoch8.mdl",
    # VMZ 2019 zoo (model_zoo.md): Kinetics models.
    "c3d_kinetics_from_scratch_f129282105.pkl", "c3d_ft_kinetics_from_sports1m_f131638306.pkl",
    "r2plus1d_34_clip8_ft_kinetics_from_ig65m_ f128022400.pkl",
    "r2plus1d_34_clip32_ft_kinetics_from_ig65m_ f106169681.pkl",
    "r2plus1d_152_kinetics_from_scratch_f127858918.pkl", "r2plus1d_152_ft_kinetics_from_sports1m_f128957437.pkl",
    "r2plus1d_152_ft_kinetics_from_ig65m_f107107466.pkl", "irCSN_50_ft_kinetics_from_ig65m_f233743920.pkl",
    "irCSN_152_kinetics_from_scratch_f98268019.pkl", "irCSN_152_ft_kinetics_from_sports1m_f101599884.pkl",
    "irCSN_152_ft_kinetics_from_ig65m_f126851907.pkl", "ipCSN_152_kinetics_from_scratch_f129594342.pkl",
    "ipCSN_152_ft_kinetics_from_sports1m_f111279053.pkl", "ipCSN_152_ft_kinetics_from_ig65m_f133090949.pkl",
    # VMZ 2019 zoo: pretraining checkpoints.
    "c3d_sports1m_from_scratch_f129642950.pkl", "r2plus1d_34_clip8_ig65m_from_scratch_f79708462.pkl",
    "r2plus1d_34_clip32_ig65m_from_scratch_f102649996.pkl", "r2plus1d_152_sports1m_from_scratch_f127111290.pkl",
    "r2plus1d_152_ig65m_from_scratch_f106380637.pkl", "irCSN_50_pretrained_ig65m_f231921860.pkl",
    "irCSN_152_sports1m_from_scratch_f99918785.pkl", "irCSN_152_ig65m_from_scratch_f125286141.pkl",
    "ipCSN_152_sports1m_from_scratch_f111018543.pkl", "ipCSN_152_ig65m_from_scratch_f130601052.pkl",
    # Name variants of the same files (c2/README.md capital "Sports1M", the test script's "URU").
    "irCSN_152_Sports1M_from_scratch_f99918785.pkl", "irCSN_152_ft_kinetics_from_Sports1M_f101599884.pkl",
    "ipCSN_152_Sports1M_from_scratch_f111018543.pkl", "ipCSN_152_ft_kinetics_from_Sports1M_f111279053.pkl",
    "irCSN_152_ft_kinetics_from_URU_f126851907.pkl",
    # Gradient-Blending audio-visual files (catalogued under "unsupported").
    "g_b_ip_csn_152_kinetics.pkl", "sports1m_audioset_ip_csn_152.pkl",
    "g_b_ip_csn_152_sports_audioset_ft_kinetics.pkl", "ig_audioset_ip_csn_152.pkl",
    "g_b_ip_csn_152_ig_audioset_ft_kinetics.pkl", "g_b_r2_plus_1d_101_audioset.pkl", "ig_imagenet_ip_csn_152.pkl",
    # ig65m-pytorch v1.0.0: .pth ports and ONNX .pb exports.
    "r2plus1d_34_clip8_ig65m_from_scratch-9bae36ae.pth", "r2plus1d_34_clip8_ig65m_from_scratch-748ab053.pb",
    "r2plus1d_34_clip32_ig65m_from_scratch-449a7af9.pth", "r2plus1d_34_clip32_ig65m_from_scratch-e304d648.pb",
    "r2plus1d_34_clip8_ft_kinetics_from_ig65m-0aa0550b.pth", "r2plus1d_34_clip8_ft_kinetics_from_ig65m-625d61b3.pb",
    "r2plus1d_34_clip32_ft_kinetics_from_ig65m-ade133f1.pth", "r2plus1d_34_clip32_ft_kinetics_from_ig65m-10f4c3bf.pb",
    # bjuncek/VMZ test_models .pth ports (11; r2plus1d_152_sports1m_32frms has no URL).
    "r2plus1d_152_ig65m_from_scratch_f106380637.pth", "r2plus1d_152_ft_kinetics_from_ig65m_f107107466.pth",
    "r2plus1d_152_ft_kinetics_from_sports1m_f128957437.pth", "irCSN_152_ig65m_from_scratch_f125286141.pth",
    "irCSN_152_ft_kinetics_from_ig65m_f126851907.pth", "irCSN_152_Sports1M_from_scratch_f99918785.pth",
    "irCSN_152_ft_kinetics_from_Sports1M_f101599884.pth", "ipCSN_152_ig65m_from_scratch_f130601052.pth",
    "ipCSN_152_ft_kinetics_from_ig65m_f133090949.pth", "ipCSN_152_Sports1M_from_scratch_f111018543.pth",
    "ipCSN_152_ft_kinetics_from_Sports1M_f111279053.pth",
    # torchvision KINETICS400_V1.
    "r3d_18-b3b3357e.pth", "mc3_18-a90a0ba3.pth", "r2plus1d_18-91a641e6.pth",
}
ALIASES = {f for f in RELEASED_FILES if "Sports1M" in f and f.endswith(".pkl") or "_URU_" in f}
_DOC_FILE = re.compile(r"[A-Za-z0-9_.\- ]+\.(?:pkl|pth|mdl|pb)")
_DROPBOX_ID = re.compile(r"^[a-z0-9]{15}$")


def _all_sources(registry):
    for section in ("weights", "unsupported"):
        for name, entry in registry[section].items():
            for src in entry["sources"] + entry.get("exports", []):
                yield section, name, entry, src


def _remote_names(src) -> set[str]:
    return {src.get("remote_filename", src["filename"]), *src.get("aliases", [])}


def _by_remote_name(registry) -> dict[str, tuple[str, dict, dict]]:
    return {remote: (name, entry, src) for _, name, entry, src in _all_sources(registry)
            for remote in _remote_names(src)}


def test_every_released_file_is_in_the_registry_once():
    registry = load_registry()
    listed = [remote for *_, src in _all_sources(registry) for remote in _remote_names(src)]
    assert len(listed) == len(set(listed)), "a file is listed twice"
    assert set(listed) == RELEASED_FILES
    assert len(RELEASED_FILES) == 87


def test_counts_per_release():
    registry = load_registry()
    weights = registry["weights"].values()
    per_release = {}
    for entry in weights:
        per_release[entry["release"]] = per_release.get(entry["release"], 0) + 1
    assert per_release == {"vmz_c2_2018": 28, "vmz_c2_hmdb51": 1, "vmz_c2_2019": 24, "torchvision": 3}
    assert len(registry["unsupported"]) == 7
    formats = [src["format"] for *_, src in _all_sources(registry)]
    assert formats.count("c2_pickle") == 28 + 24 + 7
    assert formats.count("c2_minidb") == 1
    assert formats.count("pth") == 4 + 11 + 3
    assert formats.count("onnx") == 4


def test_aliases_and_space_names_are_sanitised():
    registry = load_registry()
    by_remote = _by_remote_name(registry)
    for alias in ALIASES:
        name, _, src = by_remote[alias]
        assert alias in src["aliases"] and src["filename"] != alias
    for remote in (f for f in RELEASED_FILES if " " in f):
        _, _, src = by_remote[remote]
        assert src["remote_filename"] == remote and " " not in src["filename"]
        assert "%20" in src["url"] and " " not in src["url"]


def test_hash_prefixes_are_recorded():
    prefixed = re.compile(r"-([0-9a-f]{8})\.(?:pth|pb)$")
    seen = 0
    for *_, src in _all_sources(load_registry()):
        match = prefixed.search(src["filename"])
        assert src.get("hash_prefix") == (match.group(1) if match else None), src["filename"]
        assert src["sha256"] is None  # none published for any of these files
        seen += bool(match)
    assert seen == 4 + 4 + 3


def test_dropbox_urls_have_the_published_form():
    for *_, src in _all_sources(load_registry()):
        if src["host"] != "dropbox":
            continue
        remote = src.get("remote_filename", src["filename"]).replace(" ", "%20")
        assert re.fullmatch(r"https://www\.dropbox\.com/s/[a-z0-9]{15}/" + re.escape(remote) + r"\?dl=1", src["url"])
        assert src["published_url"].startswith(src["url"].removesuffix("?dl=1"))


def test_known_facts_of_the_catalogue():
    w = load_registry()["weights"]
    for name, entry in w.items():
        if "csn" in entry["arch"]:
            assert entry["options"] == {"use_pool1": True} and entry["crop_size"] == 224, name
        if entry["arch"] == "r2plus1d_152":
            assert entry["options"] == {} and entry["crop_size"] == 112, name  # converted without pool1
    assert w["r2plus1d_18.kinetics400_16f_tv"]["options"] == {"bn_eps": 1e-5, "midplanes": "torchvision"}
    assert w["r3d_18.kinetics400_16f_tv"]["options"] == w["mc3_18.kinetics400_16f_tv"]["options"] == {"bn_eps": 1e-5}
    assert w["r2plus1d_34.ig65m_8f"]["num_classes"] == 487 and w["r2plus1d_34.ig65m_32f"]["num_classes"] == 359
    assert w["r2d_18.kinetics400_16f"]["options"] == {"clip_len": 16}
    assert w["r2plus1d_34.sports1m_ft_kinetics400_32f_flow"]["options"] == {"in_channels": 2}
    assert w["ir_csn_152.ig65m_ft_kinetics400"]["sampling_rate"] == 2
    assert "sampling_rate" not in w["ir_csn_152.ig65m_ft_kinetics400"]["inferred"]
    assert "sampling_rate" in w["ip_csn_152.ig65m_ft_kinetics400"]["inferred"]
    assert w["ir_csn_50.ig65m_ft_kinetics400"]["metrics"] == []  # "TBD" upstream
    assert w["r2plus1d_18.kinetics400_16f_tv"]["frame_rate"] == 15


def test_normalisation_is_in_0_1_scale():
    caffe2 = ([110.201, 100.64, 95.9966], [58.1489, 56.4701, 55.3324])
    torchvision = ([0.43216, 0.394666, 0.37645], [0.22803, 0.22145, 0.216989])
    for name, entry in load_registry()["weights"].items():
        if entry["modality"] != "rgb":
            assert entry["mean"] is None and entry["std"] is None
            continue
        expected = torchvision if entry["release"] == "torchvision" else ([v / 255 for v in caffe2[0]],
                                                                           [v / 255 for v in caffe2[1]])
        assert entry["mean"] == pytest.approx(expected[0], abs=1e-12), name
        assert entry["std"] == pytest.approx(expected[1], abs=1e-12), name


# ------------------------------------------------------------------ the release list in the repository's docs
RELEASES_DOC = Path(__file__).resolve().parents[2] / "docs" / "releases.md"


def _doc_rows() -> list[list[str]]:
    return [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in RELEASES_DOC.read_text(encoding="utf-8").splitlines() if line.startswith("|")]


def test_the_release_list_names_every_released_file():
    text = RELEASES_DOC.read_text(encoding="utf-8")
    found = {tok for tok in re.findall(r"`([^`]+)`", text) if _DOC_FILE.fullmatch(tok)}
    assert found == RELEASED_FILES


def test_the_release_list_rows_match_the_registry():
    by_remote = _by_remote_name(load_registry())
    checked = 0
    for cells in _doc_rows():
        files = [tok for c in cells for tok in re.findall(r"`([^`]+)`", c) if _DOC_FILE.fullmatch(tok)]
        ids = [c.split()[0] for c in cells if c and _DROPBOX_ID.match(c.split()[0])]
        if not files or not ids:
            continue
        name, entry, src = by_remote[files[0]]
        assert f"/s/{ids[0]}/" in src["url"], (files[0], ids[0])
        numbers = {float(c) for c in cells if re.fullmatch(r"\d+(\.\d+)?", c)}
        published = [m for m in entry.get("metrics", []) if m["protocol"] != "mmaction2_10clip_3crop256"]
        for m in published:
            assert m["top1"] in numbers and (m["level"] == "clip" or m["top5"] is None or m["top5"] in numbers), \
                (name, m)
        checked += 1
    # VMZ 2018 table 25 + 3, HMDB51 1, 2019 Kinetics models 14, pretraining checkpoints 10, Gradient-Blending 7
    assert checked == 28 + 1 + 14 + 10 + 7
