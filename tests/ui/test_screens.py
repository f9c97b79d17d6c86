"""Every screen at every supported window size: screenshot saved, expected text present,
buttons inside the window and not overlapping, text not clipped."""

from __future__ import annotations

import re
import shutil

import pytest

from tests.ui.conftest import ARTIFACTS, ui_config

pytestmark = [pytest.mark.ui, pytest.mark.slow]

SIZES = [(800, 480), (1024, 600), (1280, 800), (1920, 1080), (480, 800)]
SCREENS = ["rating", "thanks", "followup", "out_of_order", "technician_pin", "technician"]

EXPECTED = {
    "vi": {
        "rating": ["Ông/Bà có hài lòng với sự phục vụ hôm nay không?", "Không hài lòng",
                   "Hài lòng", "Rất hài lòng", "Bộ phận một cửa phường Thanh Nhàn"],
        "thanks": ["Cảm ơn Ông/Bà!", "Đã ghi nhận: Rất hài lòng",
                   re.compile(r"Màn hình trở lại sau \d giây")],
        # three buttons: the two commonest reasons, then "other" on the last
        "followup": ["Xin lỗi Ông/Bà! Điều gì chưa tốt?", "Đã ghi nhận: Không hài lòng",
                     "Phải chờ quá lâu", "Phải đi lại nhiều lần", "Lý do khác", "Bỏ qua",
                     re.compile(r"Bấm nút dưới câu trả lời của Ông/Bà, hoặc chờ \d+ giây "
                                r"để bỏ qua")],
        "out_of_order": ["Máy đánh giá tạm thời chưa sẵn sàng",
                         "Sự cố: không ghi được vào thẻ nhớ (thẻ chỉ đọc)"],
        "technician_pin": ["Kỹ thuật viên: nhập mã PIN rồi bấm Xác nhận", "0", "9", "Xoá",
                           "Thoát"],
        "technician": ["hbt-thanh-nhan", "Bộ phận một cửa phường Thanh Nhàn (hbt/thanh-nhan)",
                       "Địa chỉ IP", "Máy chủ", "chưa thử", "Đánh giá chờ gửi",
                       "Đánh giá đã gửi", "Lần gửi gần nhất", "Sự cố gửi gần nhất",
                       "Đồng hồ", "1. Không hài lòng"],
    },
    "en": {
        "rating": ["Are you satisfied with our service today?", "Not satisfied", "Satisfied",
                   "Very satisfied"],
        "thanks": ["Thank you!", "Recorded: Very satisfied"],
        "followup": ["Sorry! What went wrong?", "Waited too long", "Skip"],
        "out_of_order": ["The rating terminal is briefly unavailable"],
        "technician_pin": ["Technician: enter the PIN, then OK"],
        "technician": ["IP address", "Votes waiting to be sent", "Clock"],
    },
}


def overlaps(a, b) -> bool:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return ax < bx + bw - 0.5 and bx < ax + aw - 0.5 and ay < by + bh - 0.5 and \
        by < ay + ah - 0.5


def check_screen(step: dict, size: tuple[int, int], expected: list) -> None:
    geo = step["geometry"]
    width, height = size
    assert geo["window"] == [width, height]
    texts = [label["text"] for label in geo["labels"]]
    for want in expected:
        if isinstance(want, re.Pattern):
            assert any(want.fullmatch(t) for t in texts), f"{want.pattern} not in {texts}"
        else:
            assert want in texts, f"{want!r} not on {geo['screen']}: {texts}"
    for button in geo["buttons"]:
        x, y, w, h = button["rect"]
        assert w > 0 and h > 0
        assert x >= 0 and y >= 0 and x + w <= width + 0.5 and y + h <= height + 0.5, \
            f"button {button['text']!r} {button['rect']} outside the {width}x{height} window"
        # Big enough for an old finger: at least 7 % of the shorter side both ways.
        assert min(w, h) >= 0.07 * min(width, height), f"button {button['text']!r} too small"
    buttons = geo["buttons"]
    for i, a in enumerate(buttons):
        for b in buttons[i + 1:]:
            assert not overlaps(a["rect"], b["rect"]), f"{a['text']!r} overlaps {b['text']!r}"
    for label in geo["labels"]:
        x, y, w, h = label["rect"]
        assert x >= -0.5 and y >= -0.5 and x + w <= width + 0.5 and y + h <= height + 0.5, \
            f"label {label['text']!r} outside the window"
        tw, th = label["texture"]
        assert tw <= w + 2 and th <= h + 2, f"text {label['text']!r} clipped: {tw}x{th} in {w}x{h}"


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_every_screen_at_every_size(run_scenario, tmp_path, size):
    language = "vi"
    shots = ARTIFACTS / f"{size[0]}x{size[1]}"
    shutil.rmtree(shots, ignore_errors=True)
    report = run_scenario("tour", {"config": ui_config(tmp_path), "size": list(size),
                                   "shots": str(shots)})
    steps = report["steps_by_name"]
    for name in SCREENS:
        assert name in steps, f"screen {name} not visited"
        check_screen(steps[name], size, EXPECTED[language][name])
        assert (shots / f"{name}.png").stat().st_size > 1000
    refresh = steps["technician_refresh"]
    assert int(refresh["after"]) == int(refresh["before"]) + 1 == int(refresh["expected"])
    # The tour voted twice: best level by key, worst by touch (its follow-up skipped).
    votes = steps["votes"]["votes"]
    assert [(v["level"], v["source"], v["status"]) for v in votes] == \
        [(3, "keyboard", "pending"), (1, "touch", "pending")]


def test_english(run_scenario, tmp_path):
    size = (1024, 600)
    shots = ARTIFACTS / "en-1024x600"
    report = run_scenario("tour", {"config": ui_config(tmp_path, terminal={"language": "en"}),
                                   "size": list(size), "shots": str(shots)})
    for name in SCREENS:
        check_screen(report["steps_by_name"][name], size, EXPECTED["en"][name])
