"""QR codes of chargers' public pages, drawn by segno."""

import io

import segno

# M recovers about 15% of the code: enough for a sticker that gets scratched,
# small enough that a short address stays a version 2-3 code, easy to scan.
ERROR_LEVEL = "m"


def qr_svg(url: str, *, scale: int = 8, border: int = 4) -> bytes:
    """A standalone SVG document of a QR code holding `url`, dark modules in black."""
    out = io.BytesIO()
    segno.make(url, error=ERROR_LEVEL, micro=False).save(
        out, kind="svg", scale=scale, border=border, xmldecl=True, svgns=True, title=url
    )
    return out.getvalue()
