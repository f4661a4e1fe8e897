"""The province's regencies as polygons, and those polygons as a grid of text cells.

Pure (no Textual): the boundaries file named by `[province] boundaries` is
read once, and `ProvinceShape.grid(width, height)` rasterises it for one
size of map, by scanline, with two pixels per cell (the upper and lower
half of a character). A grid is worked out once per size and kept, so a
repaint costs a lookup, not a rasterisation.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

Ring = list[tuple[float, float]]  # (lon, lat), closed or not
Polygon = list[Ring]  # outer ring first, then holes


MIN_FRAME_SHARE = 0.001  # polygons smaller than this share of the province do not widen the frame


def _area(ring: Ring) -> float:
    return abs(sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True))) / 2


class BoundariesError(ValueError):
    """A boundaries file that cannot be drawn; str() says which and why."""


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    polygons: list[Polygon]
    centroid: tuple[float, float] | None = None


@dataclass(frozen=True)
class Cell:
    """One text cell: which regency fills its upper and lower half (None: sea or outside),
    and whether it lies on a regency's edge (drawn solid, so outlines read without colour)."""

    top: str | None
    bottom: str | None
    edge: bool


@dataclass(frozen=True)
class Grid:
    width: int
    height: int
    cells: tuple[tuple[Cell, ...], ...]  # [row][column]
    labels: dict[str, tuple[int, int]]  # regency code -> (column, row) where its label goes
    pixels: tuple[tuple[str | None, ...], ...]  # [y][x], two rows of pixels per row of cells

    def count(self, code: str) -> int:
        """Half-cells (pixels) of this regency."""
        return sum((c.top == code) + (c.bottom == code) for row in self.cells for c in row)


def load_boundaries(path: Path) -> list[Region]:
    """Read a GeoJSON FeatureCollection whose features carry `properties.code`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BoundariesError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise BoundariesError(f"{path}: not valid JSON ({exc})") from None
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list) or not features:
        raise BoundariesError(f"{path}: expected a GeoJSON FeatureCollection with features")
    regions = []
    for i, feature in enumerate(features):
        try:
            props = feature["properties"]
            code = str(props["code"])
            geometry = feature["geometry"]
            kind, coordinates = geometry["type"], geometry["coordinates"]
            if kind == "Polygon":
                coordinates = [coordinates]
            elif kind != "MultiPolygon":
                raise BoundariesError(f"{path}: features[{i}]: geometry {kind!r} is not a Polygon or MultiPolygon")
            polygons = [[[(float(x), float(y)) for x, y, *_ in ring] for ring in polygon] for polygon in coordinates]
            centroid = props.get("centroid")
            regions.append(
                Region(
                    code=code,
                    name=str(props.get("name", code)),
                    polygons=polygons,
                    centroid=(float(centroid[0]), float(centroid[1])) if centroid else None,
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, BoundariesError):
                raise
            raise BoundariesError(f"{path}: features[{i}]: not a feature with properties.code and a polygon geometry ({exc})") from None
    return regions


@dataclass
class ProvinceShape:
    """The regencies projected onto a plane, ready to rasterise at any size."""

    regions: list[Region]
    _cache: dict[tuple[int, int], Grid] = field(default_factory=dict, repr=False)
    rasterisations: int = 0  # how many grids were worked out (the cache's test reads it)

    def __post_init__(self) -> None:
        outers = [p[0] for r in self.regions for p in r.polygons if p and p[0]]
        if not outers:
            raise BoundariesError("the boundaries have no coordinates")
        # The frame is the land that matters: specks far off the coast (a rock 100 km out)
        # would otherwise shrink the whole province; they are drawn only if inside it.
        total = sum(_area(ring) for ring in outers)
        framed = [ring for ring in outers if _area(ring) >= MIN_FRAME_SHARE * total] or outers
        lats = [y for ring in framed for _, y in ring]
        lons = [x for ring in framed for x, _ in ring]
        # Equirectangular, squeezed by cos(latitude): true enough for one province.
        self._kx = math.cos(math.radians((min(lats) + max(lats)) / 2))
        self._west, self._east = min(lons) * self._kx, max(lons) * self._kx
        self._north, self._south = max(lats), min(lats)

    @property
    def codes(self) -> list[str]:
        return [r.code for r in self.regions]

    @property
    def aspect(self) -> float:
        """Width over height of the province on a plane."""
        return (self._east - self._west) / max(1e-9, self._north - self._south)

    def size_for(self, width: int, height: int) -> tuple[int, int]:
        """The largest map (columns, rows) of the province's shape that fits in width x height
        cells (a cell is about half as wide as it is tall, so two pixels high)."""
        columns = min(width, round(height * 2 * self.aspect))
        rows = min(height, math.ceil(columns / self.aspect / 2))
        return max(1, columns), max(1, rows)

    def projection(self, width: int, height: int) -> Callable[[float, float], tuple[float, float]]:
        """(lon, lat) -> (x, y) in the pixels of a map of width x height cells."""
        px_w, px_h = max(1, width), max(1, height) * 2
        span_x, span_y = self._east - self._west, self._north - self._south
        scale = min(px_w / max(span_x, 1e-9), px_h / max(span_y, 1e-9))
        off_x = (px_w - span_x * scale) / 2
        off_y = (px_h - span_y * scale) / 2

        def project(lon: float, lat: float) -> tuple[float, float]:
            return (lon * self._kx - self._west) * scale + off_x, (self._north - lat) * scale + off_y

        return project

    def grid(self, width: int, height: int) -> Grid:
        key = (width, height)
        grid = self._cache.get(key)
        if grid is None:
            grid = self._cache[key] = self._rasterise(width, height)
            self.rasterisations += 1
        return grid

    def _rasterise(self, width: int, height: int) -> Grid:
        width, height = max(1, width), max(1, height)
        px_w, px_h = width, height * 2  # a pixel is one column by half a row: about square
        project = self.projection(width, height)

        # Each pixel: (regency, part), part 0 being the regency's largest polygon (its mainland).
        owners: list[list[tuple[str, int] | None]] = [[None] * px_w for _ in range(px_h)]
        for region in self.regions:
            parts = sorted(region.polygons, key=lambda p: -_area(p[0]) if p and p[0] else 0.0)
            for part, polygon in enumerate(parts):
                edges: list[tuple[tuple[float, float], tuple[float, float]]] = []
                for ring in polygon:
                    points = [project(x, y) for x, y in ring]
                    edges.extend(zip(points, points[1:] + points[:1], strict=True))
                self._scanline(owners, edges, (region.code, part))
        # An island (any part but the mainland) keeps a pixel of sea between it and other land,
        # so Pulau Laut reads as an island even where the strait is narrower than a pixel.
        coast = [
            (x, y)
            for y, row in enumerate(owners)
            for x, owner in enumerate(row)
            if owner is not None
            and owner[1] > 0
            and any(
                (other := owners[y + dy][x + dx]) is not None and other != owner
                for dy in (-1, 0, 1)
                for dx in (-1, 0, 1)
                if 0 <= y + dy < px_h and 0 <= x + dx < px_w
            )
        ]
        for x, y in coast:
            owners[y][x] = None
        pixels: list[list[str | None]] = [[o[0] if o is not None else None for o in row] for row in owners]
        self._part_borders(pixels)
        # A regency too small to own a pixel (a town at a small size) still gets one: its centre.
        labels: dict[str, tuple[int, int]] = {}
        for region in self.regions:
            cx, cy = self._centre(region, project)
            owned = [(x, y) for y, row in enumerate(pixels) for x, code in enumerate(row) if code == region.code]
            if not owned:
                x, y = min(px_w - 1, max(0, int(cx))), min(px_h - 1, max(0, int(cy)))
                pixels[y][x] = region.code
                owned = [(x, y)]
            # The label sits on the regency's own pixel nearest its centre.
            lx, ly = min(owned, key=lambda p: (p[0] + 0.5 - cx) ** 2 + (p[1] + 0.5 - cy) ** 2)
            labels[region.code] = (lx, ly // 2)

        def at(x: int, y: int) -> str | None:
            return pixels[y][x] if 0 <= x < px_w and 0 <= y < px_h else None

        rows = []
        for row in range(height):
            cells = []
            for column in range(width):
                top, bottom = pixels[2 * row][column], pixels[2 * row + 1][column]
                edge = (
                    top != bottom
                    or any(at(x, y) != code for code, y in ((top, 2 * row), (bottom, 2 * row + 1)) for x in (column - 1, column + 1))
                    or at(column, 2 * row - 1) != top
                    or at(column, 2 * row + 2) != bottom
                )
                cells.append(Cell(top, bottom, edge))
            rows.append(tuple(cells))
        return Grid(width, height, tuple(rows), labels, tuple(tuple(row) for row in pixels))

    def _part_borders(self, pixels: list[list[str | None]]) -> None:
        """A pixel of sea between neighbouring regencies, taken from the larger one, so that
        two regencies in the same condition (the same shade) still read as two."""
        size = {r.code: sum(_area(p[0]) for p in r.polygons if p and p[0]) for r in self.regions}
        px_h, px_w = len(pixels), len(pixels[0])
        carve = set()
        for y in range(px_h):
            for x in range(px_w):
                here = pixels[y][x]
                if here is None:
                    continue
                for nx, ny in ((x + 1, y), (x, y + 1)):
                    if nx < px_w and ny < px_h:
                        there = pixels[ny][nx]
                        if there is not None and there != here:
                            carve.add((x, y) if size[here] >= size[there] else (nx, ny))
        for x, y in carve:
            pixels[y][x] = None

    @staticmethod
    def _scanline(pixels: list[list[tuple[str, int] | None]], edges: list[tuple[tuple[float, float], tuple[float, float]]], code: tuple[str, int]) -> None:
        """Fill every pixel whose centre is inside the polygons (even-odd: holes stay empty)."""
        px_w = len(pixels[0])
        for y, row in enumerate(pixels):
            yc = y + 0.5
            crossings = []
            for (x1, y1), (x2, y2) in edges:
                if (y1 <= yc < y2) or (y2 <= yc < y1):
                    crossings.append(x1 + (yc - y1) * (x2 - x1) / (y2 - y1))
            crossings.sort()
            for left, right in zip(crossings[::2], crossings[1::2], strict=False):
                start = max(0, math.ceil(left - 0.5))
                end = min(px_w - 1, math.floor(right - 0.5))
                for x in range(start, end + 1):
                    row[x] = code

    @staticmethod
    def _centre(region: Region, project: Callable[[float, float], tuple[float, float]]) -> tuple[float, float]:
        if region.centroid is not None:
            return project(*region.centroid)
        # No centroid given: the middle of the largest polygon's outer ring's bounding box.
        ring = max((p[0] for p in region.polygons), key=len)
        xs, ys = zip(*ring, strict=True)
        return project((min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2)


def province_shape(path: Path | None) -> ProvinceShape | None:
    """The shape named by `[province] boundaries`, or None when the config names none."""
    if path is None:
        return None
    return ProvinceShape(load_boundaries(path))
