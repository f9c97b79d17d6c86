"""``python -m kiosk.voice.build [FOLDER]`` (``make voice``): every prompt as a WAV file,
spoken by Debian's ``espeak-ng`` (its Vietnamese voice ``vi``, English ``en``), in
``FOLDER/<language>/<name>.wav`` (default: ``kiosk/voice/prompts``, shipped with the
package). A district's recordings with the same names replace them (``[voice] folder``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from kiosk.voice.prompts import LANGUAGES, prompts

DEFAULT_FOLDER = Path(__file__).resolve().parent / "prompts"
VOICES = {"vi": "vi", "en": "en"}
SPEED = 150  # words per minute: slower than espeak-ng's 175, for older citizens


def build(folder: Path = DEFAULT_FOLDER, *, espeak: str = "espeak-ng") -> list[Path]:
    if shutil.which(espeak) is None:
        raise SystemExit(f"{espeak} is not installed (Debian: apt install espeak-ng)")
    written = []
    for language in LANGUAGES:
        out = folder / language
        out.mkdir(parents=True, exist_ok=True)
        for name, text in sorted(prompts(language).items()):
            target = out / f"{name}.wav"
            subprocess.run([espeak, "-v", VOICES[language], "-s", str(SPEED), "-w",
                            str(target), text], check=True, timeout=60,
                           stdout=subprocess.DEVNULL)
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    folder = Path(argv[0]) if argv else DEFAULT_FOLDER
    written = build(folder)
    print(f"{len(written)} prompts written to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
