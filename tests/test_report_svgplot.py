"""The hand-built figure canvas: SVG text, PNG raster, ticks and escaping."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from PIL import Image

from pipeline.report.svgplot import Axes, Canvas, _dashed, legend, nice_ticks, num, padded

SVG = "{http://www.w3.org/2000/svg}"


def test_num_rounds_to_hundredths_without_trailing_zeros():
    assert num(1.0) == "1"
    assert num(1.2345) == "1.23"
    assert num(-0.001) == "0"
    assert num(10.5) == "10.5"
    assert num(-3.456) == "-3.46"


@pytest.mark.parametrize("lo, hi", [(0, 1), (0, 6.7), (-2.53, 2.27), (0.01, 0.013),
                                    (-1234.5, 98765.0), (5, 5), (0.5, 20.5)])
def test_nice_ticks_are_round_and_cover_the_interval(lo, hi):
    ticks, decimals = nice_ticks(lo, hi)
    assert 2 <= len(ticks) <= 11
    step = ticks[1] - ticks[0]
    mantissa = step / 10 ** __import__("math").floor(__import__("math").log10(step))
    assert any(abs(mantissa - m) < 1e-9 for m in (1, 2, 2.5, 5, 10))
    lo2, hi2 = (lo, hi) if hi > lo else padded(lo, hi)
    assert all(lo2 - 1e-9 <= t <= hi2 + 1e-9 for t in ticks)
    assert ticks[0] - step < lo2 and ticks[-1] + step > hi2  # no room for another tick
    # the printed labels distinguish every tick
    labels = [f"{t:.{decimals}f}" for t in ticks]
    assert len(set(labels)) == len(labels)


def test_nice_ticks_steps():
    assert nice_ticks(0, 1)[0] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(0, 10)[0] == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    assert nice_ticks(0, 1)[1] == 1
    assert nice_ticks(0, 0.1)[1] == 2


def _canvas() -> Canvas:
    c = Canvas(300, 200, 'Title with <tags> & "quotes"')
    ax = Axes(c, 50, 10, 290, 160, (0.0, 10.0), (-1.0, 1.0))
    ax.frame("x label", "y label")
    c.polyline(ax.xy([(0, 0), (5, 0.5), (10, -0.5)]), "#0072B2", 2, dash=(4, 2))
    c.polygon(ax.xy([(0, -0.2), (10, -0.2), (10, 0.2), (0, 0.2)]), "#0072B2", 0.2)
    c.markers([(100, 100), (120, 100)], "square", 6, "#D55E00")
    c.markers([(140, 100)], "diamond", 6, "#D55E00")
    c.markers([(160, 100)], "triangle", 6, "#D55E00")
    c.circles([(60, 60, 5)], "#009E73", "#ffffff", 1, opacity=0.5)
    c.text(150, 20, "<script>alert('x')</script> & 大田区", 11, "middle")
    legend(c, [{"label": "a & b", "color": "#000000", "marker": "circle"},
               {"label": "band", "color": "#0072B2", "band": True}], 200, 20)
    return c


def test_svg_is_well_formed_and_escapes_text():
    c = _canvas()
    text = c.svg()
    root = ET.fromstring(text)  # raises on malformed XML or unescaped markup
    assert root.tag == SVG + "svg"
    assert root.find(SVG + "title").text == 'Title with <tags> & "quotes"'
    texts = [t.text for t in root.iter(SVG + "text")]
    assert "<script>alert('x')</script> & 大田区" in texts
    assert "<script" not in text  # only as &lt;script&gt;
    assert root.find(SVG + "script") is None


def test_control_characters_in_text_leave_the_svg_well_formed():
    """A label pasted with a control character (XML 1.0 cannot hold \\x01) is drawn without it."""
    c = Canvas(100, 50, "cluster\x01 A")
    c.text(10, 20, "Ota\x0b ward\x1f")
    root = ET.fromstring(c.svg())
    assert root.find(SVG + "title").text == "cluster A"
    assert [t.text for t in root.iter(SVG + "text")] == ["Ota ward"]


def test_svg_is_deterministic():
    assert _canvas().svg() == _canvas().svg()


def test_png_has_twice_the_size_and_draws_something(tmp_path):
    c = _canvas()
    c.png(tmp_path / "f.png")
    img = Image.open(tmp_path / "f.png")
    assert img.size == (600, 400)
    colors = img.convert("RGB").getcolors(maxcolors=1 << 20)
    assert len(colors) > 20  # lines, text and anti-aliasing, not a blank page
    # the blue line is there
    assert any(abs(r - 0) < 40 and abs(g - 0x72) < 40 and abs(b - 0xB2) < 40 and n > 50
               for n, (r, g, b) in colors)


def test_write_gives_svg_and_png(tmp_path):
    c = _canvas()
    svg = c.write(tmp_path / "figs", "k")
    assert (tmp_path / "figs" / "k.png").stat().st_size > 1000
    on_disk = (tmp_path / "figs" / "k.svg").read_text(encoding="utf-8")
    assert on_disk.startswith("<?xml") and on_disk.endswith(svg)
    ET.fromstring(on_disk.encode("utf-8"))


def test_rotated_text_is_drawn_in_the_png(tmp_path):
    c = Canvas(100, 100)
    c.text(20, 50, "vertical label", 12, "middle", rotate=-90)
    c.png(tmp_path / "r.png", supersample=1)
    img = Image.open(tmp_path / "r.png").convert("L")
    # ink lies in a tall narrow strip around x = 20 px (40 px at scale 2)
    bbox = Image.eval(img, lambda v: 255 - v).getbbox()
    assert bbox is not None
    width, height = bbox[2] - bbox[0], bbox[3] - bbox[1]
    assert height > 2 * width
    assert abs((bbox[0] + bbox[2]) / 2 - 40) < 20


def test_dashes_split_a_line_into_on_segments():
    pieces = _dashed([(0, 0), (100, 0)], (10, 5), 1)
    assert len(pieces) == 7  # 0-10, 15-25, ..., 90-100
    assert pieces[0][0] == (0, 0) and pieces[0][-1] == (10, 0)
    assert pieces[1][0] == (15, 0)
    total = sum(p[-1][0] - p[0][0] for p in pieces)
    assert total == pytest.approx(70)


def test_png_writer_gives_the_pixels_pillow_reads(tmp_path):
    # socap writes the PNG bytes itself (no row filters, faster than Pillow's encoder); any
    # PNG reader must get back exactly the rasterised pixels
    import io

    import numpy as np

    from pipeline.report.svgplot import png_bytes

    rng = np.random.default_rng(1)
    for shape in [(1, 1, 3), (7, 13, 3), (240, 320, 3)]:
        pixels = rng.integers(0, 256, shape, dtype=np.uint8)
        pixels[: shape[0] // 2] = 255  # flat areas, as in charts
        img = Image.fromarray(pixels, "RGB")
        data = png_bytes(img)
        back = Image.open(io.BytesIO(data))
        back.load()
        assert back.mode == "RGB" and back.size == img.size
        np.testing.assert_array_equal(np.asarray(back), pixels)
    rgba = Image.new("RGBA", (5, 4), (10, 20, 30, 255))
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png_bytes(rgba)))),
                                  np.asarray(rgba.convert("RGB")))
