// A strict parser of the Prometheus text exposition format (version 0.0.4), for tests: it throws on
// anything a Prometheus server would reject, and checks what the format implies (a TYPE before the
// samples of its family, histogram buckets that never decrease and end at +Inf = _count).

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: "counter" | "gauge" | "histogram" | "summary" | "untyped";
  help: string;
  samples: Sample[];
}

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const types = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

function parseValue(text: string, line: number): number {
  // As Prometheus reads them (Go's ParseFloat): Inf and NaN in any case.
  if (/^\+?inf$/i.test(text)) return Infinity;
  if (/^-inf$/i.test(text)) return -Infinity;
  if (/^nan$/i.test(text)) return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`line ${line}: ${JSON.stringify(text)} is not a value`);
  return Number(text);
}

function parseLabels(text: string, line: number): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let at = 0;
  while (true) {
    if (text[at] === "}") return { labels, rest: text.slice(at + 1) };
    const name = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(text.slice(at))?.[0];
    if (!name || !labelName.test(name)) throw new Error(`line ${line}: bad label name at ${JSON.stringify(text.slice(at))}`);
    at += name.length;
    if (text.slice(at, at + 2) !== '="') throw new Error(`line ${line}: label ${name} has no quoted value`);
    at += 2;
    let value = "";
    for (;;) {
      const char = text[at];
      if (char === undefined) throw new Error(`line ${line}: unterminated label value`);
      at += 1;
      if (char === '"') break;
      if (char === "\\") {
        const escaped = text[at];
        at += 1;
        if (escaped === "n") value += "\n";
        else if (escaped === "\\" || escaped === '"') value += escaped;
        else throw new Error(`line ${line}: bad escape \\${escaped}`);
      } else value += char;
    }
    if (name in labels) throw new Error(`line ${line}: label ${name} repeated`);
    labels[name] = value;
    if (text[at] === ",") at += 1;
    else if (text[at] !== "}") throw new Error(`line ${line}: expected , or } after label ${name}`);
  }
}

function familyOf(sampleName: string, families: Map<string, Family>): Family | undefined {
  for (const suffix of ["_bucket", "_count", "_sum", ""]) {
    if (!sampleName.endsWith(suffix)) continue;
    const family = families.get(sampleName.slice(0, sampleName.length - suffix.length));
    if (family && (suffix === "" || family.type === "histogram" || family.type === "summary")) return family;
  }
  return undefined;
}

export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  if (text.length > 0 && !text.endsWith("\n")) throw new Error("the exposition does not end with a newline");
  const lines = text.split("\n");
  lines.pop();
  lines.forEach((raw, index) => {
    const line = index + 1;
    if (raw === "") return;
    if (raw.startsWith("#")) {
      const match = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(raw);
      if (!match) return; // A plain comment.
      const [, keyword, name, rest] = match as unknown as [string, string, string, string];
      if (!metricName.test(name)) throw new Error(`line ${line}: bad metric name ${name}`);
      const family = families.get(name) ?? { name, type: "untyped" as const, help: "", samples: [] };
      if (keyword === "TYPE") {
        if (!types.has(rest)) throw new Error(`line ${line}: unknown type ${rest}`);
        if (family.samples.length > 0) throw new Error(`line ${line}: TYPE of ${name} after its samples`);
        family.type = rest as Family["type"];
      } else family.help = rest;
      families.set(name, family);
      return;
    }
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(raw)?.[0];
    if (!name) throw new Error(`line ${line}: no metric name in ${JSON.stringify(raw)}`);
    let rest = raw.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith("{")) ({ labels, rest } = parseLabels(rest.slice(1), line));
    const fields = rest.trim().split(/ +/);
    if (!rest.startsWith(" ") || fields.length < 1 || fields.length > 2) throw new Error(`line ${line}: expected a value (and a timestamp) in ${JSON.stringify(raw)}`);
    const value = parseValue(fields[0]!, line);
    if (fields[1] !== undefined && !/^-?\d+$/.test(fields[1])) throw new Error(`line ${line}: bad timestamp ${fields[1]}`);
    const family = familyOf(name, families);
    if (!family) throw new Error(`line ${line}: sample ${name} has no TYPE before it`);
    family.samples.push({ name, labels, value });
  });
  for (const family of families.values()) {
    if (family.type === "counter") {
      for (const sample of family.samples) if (!(sample.value >= 0)) throw new Error(`${sample.name} is a counter below zero`);
    }
    if (family.type !== "histogram") continue;
    const series = new Map<string, Sample[]>();
    for (const sample of family.samples.filter((s) => s.name.endsWith("_bucket"))) {
      const { le, ...others } = sample.labels;
      if (le === undefined) throw new Error(`${sample.name} has no le label`);
      const key = JSON.stringify(others);
      series.set(key, [...(series.get(key) ?? []), sample]);
    }
    for (const [key, buckets] of series) {
      let previous = -Infinity;
      let count = 0;
      for (const bucket of buckets) {
        const bound = parseValue(bucket.labels.le!, 0);
        if (!(bound > previous)) throw new Error(`${family.name}${key}: le ${bucket.labels.le} out of order`);
        if (bucket.value < count) throw new Error(`${family.name}${key}: bucket le=${bucket.labels.le} decreases`);
        previous = bound;
        count = bucket.value;
      }
      if (previous !== Infinity) throw new Error(`${family.name}${key}: no +Inf bucket`);
      const total = family.samples.find((s) => s.name === `${family.name}_count` && JSON.stringify(s.labels) === key);
      if (total?.value !== count) throw new Error(`${family.name}${key}: _count ${total?.value} differs from the +Inf bucket ${count}`);
    }
  }
  return families;
}

/** The value of one sample (0 when the series does not exist yet, as for a counter never incremented). */
export function sampleValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  for (const family of families.values()) {
    for (const sample of family.samples) {
      if (sample.name !== name) continue;
      if (Object.entries(labels).every(([key, value]) => sample.labels[key] === value)) return sample.value;
    }
  }
  return 0;
}
