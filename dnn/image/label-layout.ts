/**
 * Where each detection's label goes, so that no label covers another or leaves the
 * image. Pure geometry: annotate.ts measures the text and draws at these rectangles.
 *
 * Greedy by score: the most probable detection is placed first and gets its best
 * spot. Each label's preferred spot is darknet's (draw_label): above the box, its
 * bottom on the box's top line, or just inside the top line when there is no room
 * above. Other candidates are the mirror at the bottom line (below the box, or just
 * inside it) and, for every label already placed in the same columns, the rows just
 * past it (above and below it). The candidate nearest the preferred row that stays in
 * the image and overlaps nothing placed wins, left-aligned with the box (pulled in at
 * the right edge); if that column is full, the same search right-aligned with the box.
 * A label that fits nowhere is left out rather than drawn over another.
 */

export interface Rect {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

/** Inclusive pixel edges, as detections carry them. */
export interface LabelBox {
  readonly left: number;
  readonly top: number;
  readonly right: number;
  readonly bottom: number;
}

export interface LabelRequest {
  readonly box: LabelBox;
  /** Higher scores are placed first. */
  readonly score: number;
  /** The label's size in pixels. */
  readonly w: number;
  readonly h: number;
}

export interface LayoutOptions {
  /** The box line's width: darknet's label sits on the line, covering it. */
  readonly lineWidth: number;
  /** Areas labels must keep off (e.g. a banner). */
  readonly reserved?: readonly Rect[];
}

export const overlaps = (a: Rect, b: Rect): boolean =>
  a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

/** One rectangle per request, in the requests' order; undefined where a label fits nowhere. */
export function layoutLabels(
  requests: readonly LabelRequest[],
  frame: { readonly w: number; readonly h: number },
  options: LayoutOptions,
): (Rect | undefined)[] {
  const placed: Rect[] = [...(options.reserved ?? [])];
  const out: (Rect | undefined)[] = new Array(requests.length).fill(undefined);
  const byScore = requests.map((r, i) => ({ r, i })).sort((a, b) => b.r.score - a.r.score || a.i - b.i);
  for (const { r, i } of byScore) {
    const w = Math.min(r.w, frame.w);
    if (r.h > frame.h || w <= 0 || r.h <= 0) continue;
    const columns = [clampX(r.box.left, w, frame.w), clampX(r.box.right + 1 - w, w, frame.w)];
    for (const x of new Set(columns)) {
      const rect = placeInColumn(r.box, x, w, r.h, frame.h, options.lineWidth, placed);
      if (rect) {
        placed.push(rect);
        out[i] = rect;
        break;
      }
    }
  }
  return out;
}

const clampX = (x: number, w: number, frameW: number) => Math.max(0, Math.min(x, frameW - w));

/** The free row nearest the preferred one for a w×h label at column x, if any. */
function placeInColumn(
  box: LabelBox,
  x: number,
  w: number,
  h: number,
  frameH: number,
  lineWidth: number,
  placed: readonly Rect[],
): Rect | undefined {
  const above = box.top + lineWidth - h;
  const preferred = above >= 0 ? above : box.top + lineWidth;
  const rows = [above, box.top + lineWidth, box.bottom + 1 - lineWidth, box.bottom + 1 - lineWidth - h, 0, frameH - h];
  for (const p of placed) {
    if (p.x < x + w && x < p.x + p.w) rows.push(p.y + p.h, p.y - h);
  }
  const candidates = rows
    .filter((y) => y >= 0 && y + h <= frameH)
    .sort((a, b) => Math.abs(a - preferred) - Math.abs(b - preferred) || a - b);
  for (const y of candidates) {
    const rect = { x, y, w, h };
    if (!placed.some((p) => overlaps(p, rect))) return rect;
  }
  return undefined;
}
