/**
 * A Prometheus registry and its text exposition format (version 0.0.4). Written here because prom-client reaches
 * for Node-only modules (process, perf_hooks, cluster) at import, and core must run unchanged on Deno; the format is
 * a few lines of text. https://prometheus.io/docs/instrumenting/exposition_formats/
 * @module
 */

export type Labels = Record<string, string>;

function labelKey(l: Labels | undefined): string {
  if (!l) return "";
  const keys = Object.keys(l).sort();
  if (keys.length === 0) return "";
  const esc = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
  return "{" + keys.map((k) => `${k}="${esc(l[k]!)}"`).join(",") + "}";
}

interface Metric {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  render(): string[];
}

export class Counter implements Metric {
  readonly type = "counter";
  readonly name: string;
  readonly help: string;
  #values = new Map<string, number>();
  #labels = new Map<string, Labels>();
  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }
  inc(labels?: Labels, by = 1): void {
    const k = labelKey(labels);
    if (!this.#values.has(k)) this.#labels.set(k, { ...labels });
    this.#values.set(k, (this.#values.get(k) ?? 0) + by);
  }
  get(labels?: Labels): number {
    return this.#values.get(labelKey(labels)) ?? 0;
  }
  /** The sum over every series whose labels include `match` (all series when absent). */
  sum(match: Labels = {}): number {
    let total = 0;
    for (const [k, v] of this.#values) {
      const l = this.#labels.get(k) ?? {};
      if (Object.entries(match).every(([n, want]) => l[n] === want)) total += v;
    }
    return total;
  }
  render(): string[] {
    return [...this.#values].map(([k, v]) => `${this.name}${k} ${v}`);
  }
}

export class Gauge implements Metric {
  readonly type = "gauge";
  readonly name: string;
  readonly help: string;
  #values = new Map<string, number | (() => number)>();
  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }
  set(value: number, labels?: Labels): void {
    this.#values.set(labelKey(labels), value);
  }
  /** A value read at scrape time, e.g. seconds until the CA expires. */
  collect(fn: () => number, labels?: Labels): void {
    this.#values.set(labelKey(labels), fn);
  }
  render(): string[] {
    return [...this.#values].map(([k, v]) => `${this.name}${k} ${typeof v === "function" ? v() : v}`);
  }
}

export class Histogram implements Metric {
  readonly type = "histogram";
  readonly name: string;
  readonly help: string;
  readonly #buckets: number[];
  #series = new Map<string, { counts: number[]; sum: number; count: number; labels: Labels | undefined }>();
  constructor(name: string, help: string, buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]) {
    this.name = name;
    this.help = help;
    this.#buckets = buckets;
  }
  observe(value: number, labels?: Labels): void {
    const k = labelKey(labels);
    let s = this.#series.get(k);
    if (!s) this.#series.set(k, s = { counts: this.#buckets.map(() => 0), sum: 0, count: 0, labels });
    this.#buckets.forEach((b, i) => {
      if (value <= b) s!.counts[i]!++;
    });
    s.sum += value;
    s.count++;
  }
  render(): string[] {
    const out: string[] = [];
    for (const s of this.#series.values()) {
      this.#buckets.forEach((b, i) => out.push(`${this.name}_bucket${labelKey({ ...s.labels, le: String(b) })} ${s.counts[i]}`));
      out.push(`${this.name}_bucket${labelKey({ ...s.labels, le: "+Inf" })} ${s.count}`);
      out.push(`${this.name}_sum${labelKey(s.labels)} ${s.sum}`);
      out.push(`${this.name}_count${labelKey(s.labels)} ${s.count}`);
    }
    return out;
  }
}

/** Holds a process's metrics; `render()` gives the text a Prometheus scrape expects. */
export class Registry {
  #metrics = new Map<string, Metric>();
  #add<M extends Metric>(m: M): M {
    const existing = this.#metrics.get(m.name);
    if (existing) {
      if (existing.type !== m.type) throw new TypeError(`metric "${m.name}" already registered as a ${existing.type}`);
      return existing as M;
    }
    this.#metrics.set(m.name, m);
    return m;
  }
  counter(name: string, help: string): Counter {
    return this.#add(new Counter(name, help));
  }
  gauge(name: string, help: string): Gauge {
    return this.#add(new Gauge(name, help));
  }
  histogram(name: string, help: string, buckets?: number[]): Histogram {
    return this.#add(new Histogram(name, help, buckets));
  }
  render(): string {
    let out = "";
    for (const m of this.#metrics.values()) {
      out += `# HELP ${m.name} ${m.help}\n# TYPE ${m.name} ${m.type}\n`;
      for (const line of m.render()) out += line + "\n";
    }
    return out;
  }
}

export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
