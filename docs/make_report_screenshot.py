"""Write the README's screenshot of a run's report: the top of RESULT_DIR/report.html at 1280 px,
in Debian's headless Chromium (``apt-get install chromium chromium-driver``).

    sim run configs/seed.toml                      # writes results/seed/report.html
    python docs/make_report_screenshot.py          # results/seed -> docs/img/seed-report.png
    python docs/make_report_screenshot.py RESULT_DIR OUT.png [--height 1500]

Not a test: the tests check the pages themselves (tests/test_report.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("result_dir", nargs="?", default=ROOT / "results" / "seed", type=Path)
    parser.add_argument(
        "out", nargs="?", default=ROOT / "docs" / "img" / "seed-report.png", type=Path
    )
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=1500)
    args = parser.parse_args()
    page = args.result_dir / "report.html"
    if not page.is_file():
        print(f"{page}: not found; run `sim run configs/seed.toml` first", file=sys.stderr)
        return 2
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"):
        options.add_argument(arg)
    web = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        web.set_window_size(args.width, args.height)
        web.get(page.resolve().as_uri())
        inner = web.execute_script("return window.innerWidth")
        web.set_window_size(args.width + (args.width - inner), args.height)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        web.save_screenshot(str(args.out))
    finally:
        web.quit()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
