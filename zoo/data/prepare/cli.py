"""``zoo-prepare``: prepare video datasets as in VMZ's Kinetics tutorial, without the ffmpeg binary.

Subcommands:
  trim       cut the annotated segments out of downloaded videos (fixed fps, short side, H.264 mp4)
  lists      VMZ list files, classes.txt and per-split CSVs from a prepared folder
  link       the reverse: a {split}/{class}/{video} folder of symlinks from a VMZ list file
  from-lmdb  export a VMZ video LMDB (create_video_db.py) to the folder layout + list files
  index      build the per-video metadata cache used by --cache-dataset (--check: refused videos and warnings)
  synthetic  write the built-in synthetic action dataset
  ucf101     per-fold list files from the extracted UCF101 videos and the official ucfTrainTestlist/ files
  hmdb51     per-fold list files from the extracted HMDB51 videos and the official *_test_splitN.txt files
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from zoo import argtypes, cli
from zoo.console import report_csv, say
from zoo.errors import printable
from zoo._io import atomic_write_text
from zoo.guards import check_writable, refuse_same_file


def _trim(args) -> int:
    from zoo.data.prepare.kinetics import check_class_count, compare_split_labels, read_annotations
    from zoo.data.prepare.trim import TrimOptions, trim_segments

    segments = [seg for path in args.annotations for seg in read_annotations(path, split=args.split)]
    if args.limit:
        segments = segments[:args.limit]
    problems = compare_split_labels(segments)
    if args.kinetics_version:
        problems = check_class_count((s.label for s in segments), args.kinetics_version) + problems
    for message in problems:
        say(f"warning: {message}", file=sys.stderr)
    options = TrimOptions(fps=args.fps, short_side=args.short_side, codec=args.codec,
                          crf=None if args.codec == "mpeg4" else args.crf,
                          qscale=args.qscale if args.codec == "mpeg4" else None, keep_audio=args.keep_audio,
                          min_duration=args.min_duration, threads=args.threads)
    report = Path(args.report) if args.report else Path(args.out) / "trim_report.csv"
    refuse_same_file(report, args.annotations, "--report")
    check_writable(report, "--report")
    summary = trim_segments(segments, args.raw_dir, args.out, options, workers=args.workers, report_path=report,
                            progress=not args.quiet)
    reasons = ", ".join(f"{k}: {v}" for k, v in sorted(summary.reasons.items()))
    say(f"trimmed {summary.done} ({summary.truncated} shorter than requested), skipped {summary.skipped} "
        f"already done, failed {summary.failed}" + (f" ({reasons})" if reasons else "") + f"; report: {report}")
    if summary.failed and not (summary.done or summary.skipped):
        cli.print_error("zoo-prepare", f"every one of the {summary.failed} segment(s) failed; see {report}")
        return 1
    return 0


def _lists(args) -> int:
    from zoo.data.prepare.lists import write_lists

    written = write_lists(args.root, args.out, start_frm=args.start_frm, video_id=args.video_id,
                          relative=args.relative)
    say(*written.values())
    return 0


def _link(args) -> int:
    from zoo.data.prepare.lists import list_to_folder, read_classes

    classes = read_classes(args.classes) if args.classes else None
    made = list_to_folder(args.list_file, args.out, args.split, classes)
    say(f"linked {made} video(s) under {Path(args.out) / args.split}")
    return 0


def _from_lmdb(args) -> int:
    from zoo.data.prepare.lists import read_classes
    from zoo.data.lmdb_videos import export_lmdb

    classes = read_classes(args.classes) if args.classes else None
    s = export_lmdb(args.db, args.out, split=args.split, classes=classes)
    say(f"{s.records} record(s): {s.videos_written} video file(s) written, {s.links} path link(s), "
        f"{s.duplicates} repeated record(s); list: {s.list_file}, classes: {s.classes_file}")
    return 0


def _index_paths(data: str, split: str | None) -> list[str]:
    from zoo.data.datasets import discover, is_video_file

    root = Path(data)
    if root.is_dir() and split is None:  # every video below the folder, whatever the layout
        return sorted(str(p) for p in root.rglob("*") if is_video_file(p)
                      and not any(part.startswith(".") for part in p.relative_to(root).parts))
    samples, _ = discover(root, split=split, on_missing="skip")
    return [str(s.path) for s in samples]


def _index(args) -> int:
    from zoo.data.index import find_problems, find_warnings, load_or_build_index

    paths = _index_paths(args.data, args.split)
    if not paths:
        raise cli.UsageError(f"{args.data}: no videos found")
    if args.check and args.report:   # checked before the videos are read: the report is written at the end
        refuse_same_file(args.report, [args.data, *paths], "--report")
        check_writable(args.report, "--report")
    index = load_or_build_index(paths, cache_dir=args.cache_dir, workers=args.workers, decode=args.decode,
                                progress=not args.quiet)
    problems = find_problems(index, min_frames=args.min_frames)
    refused = {path for path, _, _ in problems}
    warned = [w for w in find_warnings(index) if w[0] not in refused]
    accepted = len(index) - len(refused)
    say(f"indexed {len(index)} video(s): {accepted} accepted ({len({w[0] for w in warned})} with warnings), "
        f"{len(refused)} refused")
    if args.check:
        rows = [("refused", reason, path, detail) for path, reason, detail in problems]
        rows += [("warning", kind, path, detail) for path, kind, detail in warned]
        say(*("\t".join(printable(field) for field in row) for row in rows), keep_tabs=True)
        if args.report:
            atomic_write_text(args.report, report_csv(["status", "reason", "path", "detail"], rows))
        return 1 if problems else 0
    return 0


def _synthetic(args) -> int:
    from zoo.data.synthetic import run

    return run(args)


def _official(args) -> int:
    from zoo.data.prepare.folds import REPORT_FILE, write_folds
    from zoo.data.prepare.official_splits import read_hmdb51_splits, read_ucf101_splits

    reader = {"ucf101": read_ucf101_splits, "hmdb51": read_hmdb51_splits}[args.command]
    splits = reader(args.splits)
    report = write_folds(splits, args.videos, args.out, relative=args.relative)
    if not args.quiet:
        say(*report.summary())
    say(f"lists in {args.out} (use --data-path {args.out} --fold N); report: {Path(args.out) / REPORT_FILE}")
    if report.missing:
        say(f"warning: {len(report.missing)} listed video(s) missing; the lists leave them out", file=sys.stderr)
    return 0


def _add_trim(sub) -> None:
    """``zoo-prepare trim``: the segments, the encoding, the run."""
    p = cli.add_subcommand(sub, "trim", help="cut Kinetics segments out of raw videos",
                       description="Cut each annotated [time_start, time_end) segment out of the raw video named "
                                   "by its YouTube id into OUT/{split}/{label}/{id}_{start:06d}_{end:06d}.mp4.")
    p.add_argument("annotations", nargs="+", help="Kinetics CSV(s): label,youtube_id,time_start,time_end,split")
    p.add_argument("raw_dir", help="folder of downloaded videos named {youtube_id}.{ext} (searched recursively)")
    p.add_argument("out", help="output root")
    p.add_argument("--fps", type=argtypes.frame_rate, default=30.0, help="output frame rate")
    p.add_argument("--short-side", type=argtypes.side, default=320, help="output short side in pixels")
    p.add_argument("--codec", choices=["h264", "mpeg4"], default="h264", help="output video codec")
    p.add_argument("--crf", type=_crf, default=18, help="H.264 quality 0-51, lower is better")
    p.add_argument("--qscale", type=_qscale, default=2, help="MPEG-4 quality 1-31, lower is better")
    p.add_argument("--keep-audio", action="store_true", help="keep the audio track (re-encoded to AAC)")
    p.add_argument("--min-duration", type=argtypes.seconds, default=1.0,
                   help="fail segments with less than this many seconds of video")
    p.add_argument("--workers", type=argtypes.positive_workers, default=cli.default_workers(),
                   help="parallel processes (default: the CPUs this machine offers)")
    p.add_argument("--threads", type=argtypes.threads, default=0, help="codec threads per process (0: automatic)")
    p.add_argument("--kinetics-version", choices=["400", "600", "700"],
                   help="check the label set against this Kinetics version's class count")
    p.add_argument("--split", help="use this split for every row (default: the CSV's split column)")
    p.add_argument("--report", help="CSV of failed/truncated rows (default OUT/trim_report.csv)")
    p.add_argument("--limit", type=argtypes.positive_int, help="only the first N rows")
    cli.add_quiet(p)
    p.set_defaults(func=_trim)


def _add_list_commands(sub) -> None:
    """``lists``, ``link`` and ``from-lmdb``: between VMZ list files, LMDBs and the folder layout."""
    p = cli.add_subcommand(sub, "lists", help="VMZ list files + classes.txt + per-split CSVs from a prepared folder")
    p.add_argument("root", help="prepared dataset: ROOT/{split}/{class}/{video}")
    p.add_argument("--out", help="where to write the files (default: ROOT)")
    p.add_argument("--start-frm", action="store_true", help="add a start_frm column (0)")
    p.add_argument("--video-id", action="store_true", help="add a video_id column (running number)")
    p.add_argument("--relative", action="store_true", help="paths relative to the output folder")
    cli.add_quiet(p)
    p.set_defaults(func=_lists)

    p = cli.add_subcommand(sub, "link", help="folder layout (symlinks) from a VMZ list file")
    p.add_argument("list_file", help="VMZ list file org_video,label[,start_frm,video_id]")
    p.add_argument("out", help="output root; links go to OUT/{split}/{class}/")
    p.add_argument("--split", default="train", help="split folder to write")
    p.add_argument("--classes", help="classes.txt naming the labels (default: label numbers)")
    cli.add_quiet(p)
    p.set_defaults(func=_link)

    p = cli.add_subcommand(sub, "from-lmdb", help="export a VMZ video LMDB to the folder layout + list files")
    p.add_argument("db", help="LMDB directory written by VMZ's create_video_db.py")
    p.add_argument("out", help="output root")
    p.add_argument("--split", default="train", help="split folder to write")
    p.add_argument("--classes", help="classes.txt naming the labels (default: label numbers)")
    cli.add_quiet(p)
    p.set_defaults(func=_from_lmdb)


def _add_index(sub) -> None:
    """``zoo-prepare index``: the metadata cache and its ``--check``."""
    p = cli.add_subcommand(sub, "index", help="build the metadata cache used by --cache-dataset")
    p.add_argument("data", help="dataset folder, list file or Kinetics CSV")
    p.add_argument("--split", help="only this split (default: every video under DATA)")
    p.add_argument("--workers", type=argtypes.positive_workers, default=cli.default_workers(),
                   help="parallel processes (default: the CPUs this machine offers)")
    p.add_argument("--cache-dir", help="cache folder (default: the user cache dir)")
    p.add_argument("--check", action="store_true",
                   help="list refused videos (undecodable, truncated, too short; exit 1 if any) and the warnings "
                        "of accepted ones (frame count, repeated frames, rotation, decode errors)")
    p.add_argument("--decode", action="store_true", help="also decode every frame (slow, finds corrupt data)")
    p.add_argument("--min-frames", type=argtypes.frame_count, default=16, help="videos with fewer frames are too short")
    p.add_argument("--report", help="with --check: write status,reason,path,detail rows to this CSV")
    cli.add_quiet(p)
    p.set_defaults(func=_index)


def _add_official_splits(sub) -> None:
    """``ucf101`` and ``hmdb51``: official split files to per-fold list files."""
    for name, splits_help in (
            ("ucf101", "the extracted ucfTrainTestlist/ folder (classInd.txt, trainlist01.txt, testlist01.txt, ...)"),
            ("hmdb51", "the extracted testTrainMulti_7030_splits/ folder (<class>_test_split1.txt, ...)")):
        p = cli.add_subcommand(sub, name, help=f"{name.upper()} official splits -> per-fold list files",
                               description=f"Read {name.upper()}'s official split files and write OUT/classes.txt, "
                                           "OUT/train_foldN.csv and OUT/test_foldN.csv (VMZ list files) for every fold, "
                                           "plus OUT/prepare_report.json counting missing and extra videos. Train "
                                           "and test with --data-path OUT --fold N.")
        p.add_argument("videos", help="folder of extracted videos, one sub-folder per class "
                                      f"({'UCF-101/' if name == 'ucf101' else 'hmdb51_org/ after extracting the class .rar files'})")
        p.add_argument("splits", help=splits_help)
        p.add_argument("out", help="output folder for the list files")
        p.add_argument("--relative", action="store_true", help="video paths relative to OUT (default: absolute)")
        cli.add_quiet(p)
        p.set_defaults(func=_official)


def build_parser() -> argparse.ArgumentParser:
    parser = cli.make_parser("zoo-prepare", __doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_trim(sub)
    _add_list_commands(sub)
    _add_index(sub)
    _add_official_splits(sub)
    from zoo.data.synthetic import add_arguments
    p = add_arguments(cli.add_subcommand(sub, "synthetic", help="write the synthetic action dataset"))
    p.set_defaults(func=_synthetic)
    return parser


def _crf(text: str) -> int:
    value = argtypes.non_negative_int(text)
    if value > 51:
        raise argparse.ArgumentTypeError(f"must be 0-51, got {text}")
    return value


def _qscale(text: str) -> int:
    value = argtypes.positive_int(text)
    if value > 31:
        raise argparse.ArgumentTypeError(f"must be 1-31, got {text}")
    return value


def _run(args) -> int:
    try:
        return args.func(args)
    except cli.UsageError:   # includes wrong split files (SplitFormatError); NoVideosError is a failure (exit 1)
        raise
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, ValueError, ImportError) as err:
        raise cli.UsageError(cli.error_message(err)) from err   # what the user gave is wrong: exit 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``zoo-prepare``."""
    return cli.run_tool("zoo-prepare", build_parser(), _run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
