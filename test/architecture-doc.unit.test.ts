// docs/architecture.md opens with the layer map: every folder of src/ (two levels below adapters/, one
// elsewhere) must be named there, and every folder named there must exist, so the map cannot drift from the
// code. The folders are read from the map's code block: lines that start with a path ending in "/".
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dirsIn = (dir: string): string[] => readdirSync(join(ROOT, dir)).filter((name) => statSync(join(ROOT, dir, name)).isDirectory());

function foldersInCode(): string[] {
  const out: string[] = [];
  for (const top of dirsIn('src')) {
    out.push(`src/${top}/`);
    if (top === 'adapters') {
      for (const second of dirsIn('src/adapters')) {
        const below = dirsIn(`src/adapters/${second}`).filter((d) => !['migrations', 'queries'].includes(d));
        if (below.length === 0) out.push(`${second}/`);
        for (const third of below) out.push(`${second}/${third}/`);
      }
    }
  }
  return out.sort();
}

function foldersInMap(): string[] {
  const doc = readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8');
  const block = doc.slice(doc.indexOf('## Layers')).split('```')[1]!;
  // Every token that looks like a folder: "src/x/", "event-store/sql/", "api-keys/".
  return [...new Set([...block.matchAll(/(?:^|\s)((?:src\/)?[a-z-]+\/(?:[a-z-]+\/)?)(?=\s|$)/gm)].map((m) => m[1]!))].sort();
}

describe('docs/architecture.md', () => {
  it('names every folder of src/ in its layer map, and no folder that does not exist', () => {
    expect(foldersInMap()).toEqual(foldersInCode());
  });
});
