/**
 * Colours of an annotated image: darknet's per-class colour (src/image.c get_color,
 * draw_detections), so pictures look like darknet's, and the text colour that reads
 * best on it.
 */

/** An sRGB colour as 0..1 floats [r, g, b]. */
export type Rgb = readonly [number, number, number];

/**
 * darknet image.c `colors`. Rows are read as (b, g, r) — draw_detections asks
 * get_color(2, …) for red — so the ramp runs magenta → red → yellow → green → cyan → blue.
 */
const COLORS = [
  [1, 0, 1],
  [0, 0, 1],
  [0, 1, 1],
  [0, 1, 0],
  [1, 1, 0],
  [1, 0, 0],
] as const;

/** darknet get_color, in float arithmetic as C does it. */
function getColor(c: 0 | 1 | 2, x: number, max: number): number {
  let ratio = Math.fround(Math.fround(x / max) * 5);
  const i = Math.floor(ratio);
  const j = Math.ceil(ratio);
  ratio = Math.fround(ratio - i);
  return Math.fround((1 - ratio) * COLORS[i]![c] + ratio * COLORS[j]![c]);
}

/** The colour darknet gives a class (draw_detections: offset = class·123457 % classes). */
export function classColor(classId: number, classes: number): Rgb {
  const offset = (classId * 123457) % classes;
  return [getColor(2, offset, classes), getColor(1, offset, classes), getColor(0, offset, classes)];
}

export const BLACK: Rgb = [0, 0, 0];
export const WHITE: Rgb = [1, 1, 1];

/** WCAG relative luminance of an sRGB colour. */
export function luminance([r, g, b]: Rgb): number {
  const linear = (v: number) => (v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
  return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
}

/** Black or white, whichever has the higher WCAG contrast ratio on `background`. */
export function textColorOn(background: Rgb): Rgb {
  const y = luminance(background);
  return (y + 0.05) / 0.05 >= 1.05 / (y + 0.05) ? BLACK : WHITE;
}
