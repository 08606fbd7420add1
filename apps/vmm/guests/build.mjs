#!/usr/bin/env node
// Builds the teaching guests and the raw KVM benchmark loop.
//
//   guests/src/<name>.S  --as-->  guests/build/obj/<name>.o  --ld (src/guest.ld)-->  guests/build/<name>.bin
//   guests/src/lib/*.S   routines the guests share, pulled in with `.include "lib/<file>.S"`
//                        (as -I guests/src); they are not guests themselves
//   bench/raw-kvm-loop.c --gcc -O2-->  bench/build/raw-kvm-loop
//   guests/src/qemu-bios/reset.S  --as, ld-->  guests/build/qemu-bios.bin: the 64 KiB `-bios`
//                        template that runs any of these images under real QEMU (the VMM writes
//                        the guest's bytes into it: apps/vmm/src/qemu/bios-image.ts)
//
// Each .bin is a flat image: the bytes the VMM copies to guest-physical 0x7c00 (boot-sector
// convention); its first byte is the first instruction the vCPU runs in real mode.
// Only outputs older than their inputs are rebuilt; a guest's inputs are its source, the files
// it includes (followed recursively) and the linker script. One line per guest; on a failure
// the tool's own message is printed and the process exits with status 1.
//
// Run by `npm run build` in apps/vmm; paths come from this file's location, not the cwd.
// No dependencies: node:fs, node:path, node:child_process only.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const guestsDir = dirname(fileURLToPath(import.meta.url));
const vmmDir = dirname(guestsDir);
const srcDir = join(guestsDir, 'src');
const buildDir = join(guestsDir, 'build');
const objDir = join(buildDir, 'obj');
const linkerScript = join(srcDir, 'guest.ld');
const catalogPath = join(guestsDir, 'catalog.json');
const benchSource = join(vmmDir, 'bench', 'raw-kvm-loop.c');
const qemuBiosSource = join(srcDir, 'qemu-bios', 'reset.S');
const qemuBiosObject = join(objDir, 'qemu-bios.o');
const qemuBiosImage = join(buildDir, 'qemu-bios.bin');
/** A `-bios` image is exactly one 64 KiB ROM: QEMU maps it below 1 MiB and below 4 GiB. */
const QEMU_BIOS_BYTES = 64 * 1024;
const benchBinary = join(vmmDir, 'bench', 'build', 'raw-kvm-loop');

/** The machine contract loads images at 0x7c00 and allows at most 608 KiB. */
const IMAGE_MAX_BYTES = 608 * 1024;

// The guests are x86 code whatever the build host is: on x86-64 the native binutils assemble
// them, elsewhere the cross binutils (Debian/Ubuntu: binutils-x86-64-linux-gnu).
const toolPrefix = process.arch === 'x64' ? '' : 'x86_64-linux-gnu-';
const AS = process.env.KVMSCOPE_AS ?? `${toolPrefix}as`;
const LD = process.env.KVMSCOPE_LD ?? `${toolPrefix}ld`;
const CC = process.env.CC ?? 'gcc';

class BuildError extends Error {}

function mtime(path) {
  return existsSync(path) ? statSync(path).mtimeMs : -Infinity;
}

/** True if `output` is missing or older than any of `inputs`. */
function stale(output, inputs) {
  const built = mtime(output);
  return inputs.some((input) => mtime(input) > built);
}

const INCLUDE = /^\s*\.include\s+"([^"]+)"/gm;

/**
 * The files `source` pulls in with `.include "..."`, directly or through another include,
 * resolved the way `as -I srcDir` resolves them. A conditional include counts too (a rebuild
 * too many is harmless); a name that does not resolve is left for `as` to report.
 */
function includes(source, seen = new Set()) {
  for (const [, name] of readFileSync(source, 'utf8').matchAll(INCLUDE)) {
    const path = join(srcDir, name);
    if (seen.has(path) || !existsSync(path)) continue;
    seen.add(path);
    includes(path, seen);
  }
  return [...seen];
}

/** Runs a tool; on failure throws with the tool's own diagnostics. */
function run(tool, args) {
  try {
    execFileSync(tool, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (err) {
    if (err.code === 'ENOENT') {
      throw new BuildError(
        `${tool}: not found. The guests need GNU binutils for x86-64 (the toolchain node-gyp ` +
          `uses brings them; on a non-x86 host install binutils-x86-64-linux-gnu), or point ` +
          `KVMSCOPE_AS / KVMSCOPE_LD / CC at your tools.`,
      );
    }
    const output = `${err.stdout ?? ''}${err.stderr ?? ''}`.trim();
    throw new BuildError(`${tool} ${args.join(' ')}\n${output || err.message}`);
  }
}

/** Writes through a temporary name so a failed step never leaves a fresh-looking output. */
function produce(output, make) {
  const tmp = `${output}.tmp`;
  rmSync(tmp, { force: true });
  make(tmp);
  renameSync(tmp, output);
}

function buildGuest(name) {
  const source = join(srcDir, `${name}.S`);
  const object = join(objDir, `${name}.o`);
  const image = join(buildDir, `${name}.bin`);
  const inputs = [source, ...includes(source), linkerScript];
  let state = 'up to date';
  if (stale(image, inputs)) {
    produce(object, (tmp) => run(AS, ['--64', '-I', srcDir, '-o', tmp, source]));
    produce(image, (tmp) => run(LD, ['-T', linkerScript, '-o', tmp, object]));
    state = 'built';
  }
  const size = statSync(image).size;
  if (size === 0 || size > IMAGE_MAX_BYTES) {
    throw new BuildError(`${relative(vmmDir, image)}: ${size} bytes; an image must be 1..${IMAGE_MAX_BYTES}`);
  }
  console.log(`guest ${name.padEnd(13)} ${String(size).padStart(5)} bytes  ${relative(vmmDir, image)}  (${state})`);
}

function buildQemuBios() {
  let state = 'up to date';
  if (stale(qemuBiosImage, [qemuBiosSource])) {
    produce(qemuBiosObject, (tmp) => run(AS, ['--64', '-o', tmp, qemuBiosSource]));
    produce(qemuBiosImage, (tmp) => run(LD, ['-Ttext=0', '-e', '0', '--oformat', 'binary', '-o', tmp, qemuBiosObject]));
    state = 'built';
  }
  const size = statSync(qemuBiosImage).size;
  if (size !== QEMU_BIOS_BYTES) {
    throw new BuildError(`${relative(vmmDir, qemuBiosImage)}: ${size} bytes; a -bios template must be ${QEMU_BIOS_BYTES}`);
  }
  console.log(`qemu -bios template ${String(size).padStart(5)} bytes  ${relative(vmmDir, qemuBiosImage)}  (${state})`);
}

function buildBench() {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    console.log(`bench raw-kvm-loop  skipped: it drives x86 KVM, this host is ${process.platform}-${process.arch}`);
    return;
  }
  let state = 'up to date';
  if (stale(benchBinary, [benchSource])) {
    mkdirSync(dirname(benchBinary), { recursive: true });
    produce(benchBinary, (tmp) => run(CC, ['-O2', '-Wall', '-Wextra', '-pthread', '-o', tmp, benchSource]));
    state = 'built';
  }
  console.log(`bench raw-kvm-loop               ${relative(vmmDir, benchBinary)}  (${state})`);
}

/** Every source needs a catalog entry and every entry a source: the UI lists the catalog. */
function checkCatalog(names) {
  let catalog;
  try {
    catalog = JSON.parse(readFileSync(catalogPath, 'utf8'));
  } catch (err) {
    throw new BuildError(`${relative(vmmDir, catalogPath)}: ${err.message}`);
  }
  const listed = new Set(catalog.map((entry) => entry.name));
  const missing = names.filter((name) => !listed.has(name));
  const orphans = [...listed].filter((name) => !names.includes(name));
  if (missing.length || orphans.length) {
    throw new BuildError(
      `guests/catalog.json is out of step with guests/src: ` +
        [missing.length && `no entry for ${missing.join(', ')}`, orphans.length && `no source for ${orphans.join(', ')}`]
          .filter(Boolean)
          .join('; '),
    );
  }
}

try {
  const names = readdirSync(srcDir)
    .filter((file) => file.endsWith('.S'))
    .map((file) => file.slice(0, -2))
    .sort();
  checkCatalog(names);
  mkdirSync(objDir, { recursive: true });
  for (const name of names) buildGuest(name);
  buildQemuBios();
  buildBench();
} catch (err) {
  if (!(err instanceof BuildError)) throw err;
  console.error(`guests/build.mjs: ${err.message}`);
  process.exit(1);
}
