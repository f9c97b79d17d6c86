"""A voice for the terminal (docs/technician.md, "Giọng nói"): prompts are WAV files in a
folder, one per thing said, named the same in every language::

    FOLDER/vi/confirm-3-2.wav      "Ông/Bà đã chọn: Hài lòng. Cảm ơn Ông/Bà."
    FOLDER/vi/followup-3.wav       the follow-up question and the reason of each button
    FOLDER/vi/answered.wav         "Đã ghi nhận câu trả lời …"

:mod:`kiosk.voice.prompts` says what each file says; :mod:`kiosk.voice.build` makes them at
build time with Debian's ``espeak-ng`` (so the terminal needs no speech synthesis at run
time); a district replaces any of them by its own recording of a human voice under the same
name (``[voice] folder``). :mod:`kiosk.voice.player` plays them through ALSA (``aplay``)
in a thread of its own, so saying something never delays a vote or the thank-you frame.

The core of the terminal does not import this package; the UI does, when a speaker is set.
"""
