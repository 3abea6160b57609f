/**
 * Token-bucket shaping of one link direction. Only tbf/htb exist in this kernel (no
 * netem, fq, fq_codel), and tbf with these settings measured 95-96 % of the set rate,
 * the rest being TCP/IP headers.
 */
import { LabError } from "../core/errors.js";

/** Queue bound: packets that would wait longer are dropped, like a small router buffer. */
export const TBF_LATENCY_MS = 50;

/**
 * Bucket size: 10 ms of traffic, at least 64 KiB. A veth hands tbf GSO packets of up
 * to 64 KiB, so a smaller bucket stalls the link; 10 ms gives the measured settings
 * (64-128 kb at 10-100 mbit, ~1 mb at 1 gbit).
 */
export function burstBytes(mbit: number): number {
  return Math.max(64 * 1024, Math.ceil((mbit * 1e6) / 8 / 100));
}

/** `tc` argv that sets (or, with "replace", changes) the egress rate of `dev` in netns `ns`. */
export function tbfArgv(ns: string, dev: string, mbit: number, verb: "add" | "replace" = "add"): string[] {
  return [
    "tc",
    "-n",
    ns,
    "qdisc",
    verb,
    "dev",
    dev,
    "root",
    "tbf",
    "rate",
    `${formatKbit(mbit)}kbit`,
    "burst",
    String(burstBytes(mbit)),
    "latency",
    `${TBF_LATENCY_MS}ms`,
  ];
}

/**
 * Largest packet the sender's TCP may hand down (gso_max_size): 2 ms of traffic,
 * between 4 and 64 KiB. With the default 64 KiB, a full tbf queue at 10 mbit (about
 * 120 KiB) drops two packets' worth of 44 segments each, and TCP spends the first
 * second recovering; with a few segments per packet tbf drops like a router,
 * per packet. At 1 gbit small packets would cost more CPU than this machine has, so
 * fast links keep the default.
 */
export function gsoMaxBytes(mbit: number): number {
  return Math.min(65536, Math.max(4096, Math.round((mbit * 1e6) / 8 / 500)));
}

export function gsoArgv(ns: string, dev: string, bytes: number): string[] {
  return ["ip", "-n", ns, "link", "set", "dev", dev, "gso_max_size", String(bytes)];
}

/** tc takes integer kbit; this keeps fractional mbit exact down to 1 kbit. */
function formatKbit(mbit: number): number {
  return Math.max(1, Math.round(mbit * 1000));
}

/** "100mbit", "1gbit", "512kbit" (tc's spelling) → Mbit/s. */
export function parseRate(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(kbit|mbit|gbit)$/i.exec(text.trim());
  if (!m) throw new LabError(`bad rate '${text}': expected e.g. 10mbit, 100mbit, 1gbit`);
  const scale = { kbit: 1e-3, mbit: 1, gbit: 1e3 }[m[2]!.toLowerCase() as "kbit" | "mbit" | "gbit"];
  return Number(m[1]) * scale;
}
