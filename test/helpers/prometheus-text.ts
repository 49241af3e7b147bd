/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4), for tests that scrape
 * a node: every sample must belong to a family declared by `# HELP` and `# TYPE` before it (with
 * the suffixes its type allows), every label must be well formed and every value a number. It
 * throws on the first line that is not.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  help: string;
  type: MetricType;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const SUFFIXES: Record<MetricType, string[]> = {
  counter: ['', '_total'],
  gauge: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
  untyped: [''],
};

export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const helps = new Map<string, string>();
  const lines = text.split('\n');
  lines.forEach((line, index) => {
    const where = `line ${index + 1}: ${line}`;
    if (line === '') return;
    if (line.startsWith('# HELP ')) {
      const rest = line.slice('# HELP '.length);
      const space = rest.indexOf(' ');
      const name = space === -1 ? rest : rest.slice(0, space);
      if (!NAME.test(name)) throw new Error(`bad family name, ${where}`);
      helps.set(name, space === -1 ? '' : rest.slice(space + 1));
      return;
    }
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice('# TYPE '.length).split(' ');
      if (!name || !NAME.test(name)) throw new Error(`bad family name, ${where}`);
      if (!type || !(type in SUFFIXES)) throw new Error(`unknown type, ${where}`);
      if (families.has(name)) throw new Error(`family declared twice, ${where}`);
      families.set(name, { name, help: helps.get(name) ?? '', type: type as MetricType, samples: [] });
      return;
    }
    if (line.startsWith('#')) return;
    const sample = parseSample(line, where);
    const family = familyOf(families, sample.name);
    if (!family) throw new Error(`sample of no declared family, ${where}`);
    if (family.type === 'histogram' && sample.name.endsWith('_bucket') && sample.labels.le === undefined) throw new Error(`bucket without le, ${where}`);
    family.samples.push(sample);
  });
  for (const family of families.values()) if (!helps.has(family.name)) throw new Error(`family ${family.name} has no HELP`);
  return families;
}

function familyOf(families: Map<string, Family>, sampleName: string): Family | undefined {
  for (const family of families.values()) {
    for (const suffix of SUFFIXES[family.type]) if (`${family.name}${suffix}` === sampleName) return family;
  }
  return undefined;
}

function parseSample(line: string, where: string): Sample {
  const brace = line.indexOf('{');
  let name: string;
  let rest: string;
  const labels: Record<string, string> = {};
  if (brace !== -1 && brace < line.indexOf(' ')) {
    name = line.slice(0, brace);
    let i = brace + 1;
    while (line[i] !== '}') {
      const eq = line.indexOf('=', i);
      const labelName = line.slice(i, eq);
      if (!LABEL_NAME.test(labelName)) throw new Error(`bad label name ${labelName}, ${where}`);
      if (line[eq + 1] !== '"') throw new Error(`label value not quoted, ${where}`);
      let value = '';
      let j = eq + 2;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\') {
          const next = line[++j];
          value += next === 'n' ? '\n' : next;
        } else {
          value += line[j];
        }
      }
      if (j >= line.length) throw new Error(`unterminated label value, ${where}`);
      labels[labelName] = value;
      i = j + 1;
      if (line[i] === ',') i += 1;
      else if (line[i] !== '}') throw new Error(`bad label list, ${where}`);
    }
    rest = line.slice(i + 1).trim();
  } else {
    const space = line.indexOf(' ');
    name = line.slice(0, space);
    rest = line.slice(space + 1).trim();
  }
  if (!NAME.test(name)) throw new Error(`bad sample name, ${where}`);
  const [valueText] = rest.split(' ');
  // Prometheus reads values with Go's ParseFloat: NaN and Inf in any case (prom-client writes "Nan").
  const special = /^(?:(nan)|([+-]?)inf(?:inity)?)$/i.exec(valueText ?? '');
  const value = special ? (special[1] ? NaN : special[2] === '-' ? -Infinity : Infinity) : Number(valueText);
  if (valueText === undefined || valueText === '' || (Number.isNaN(value) && !special)) throw new Error(`bad value, ${where}`);
  return { name, labels, value };
}

/** The value of the one sample of `name` whose labels include `labels` (summed when several match); 0 when none. */
export function sampleValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const family of families.values()) {
    for (const sample of family.samples) {
      if (sample.name !== name) continue;
      if (Object.entries(labels).every(([k, v]) => sample.labels[k] === v)) total += sample.value;
    }
  }
  return total;
}

/** Every sample of `name` (with their labels). */
export function samplesOf(families: Map<string, Family>, name: string): Sample[] {
  return [...families.values()].flatMap((f) => f.samples.filter((s) => s.name === name));
}

/** Scrapes `GET <url>/metrics` and parses it. */
export async function scrape(url: string): Promise<Map<string, Family>> {
  const res = await fetch(`${url}/metrics`);
  if (res.status !== 200) throw new Error(`scrape ${url}: ${res.status}`);
  const type = res.headers.get('content-type') ?? '';
  if (!type.startsWith('text/plain')) throw new Error(`scrape ${url}: content type ${type}`);
  return parsePrometheusText(await res.text());
}
