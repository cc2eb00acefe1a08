import * as z from 'zod';
import { type ExplicitImage, type Image, type ImageLayout, type InitialProcess, type OpName, type Scenario, type ScenarioStep, type VmaSpec } from '@lockline/kernel';
import { byteValue, rlimitByteValue, signedByteValue } from './byteValue.js';
import { describeValue, isRecord, PARSE_OPTIONS, problemsFromIssues, type Problem } from './problems.js';
import { reportUnknownKeys, strictWithHints } from './strictWithHints.js';
import {
  ALWAYS,
  checkVma,
  checkVmaList,
  eitherImage,
  errnoSchema,
  imageFormatSchema,
  lockedVmPagesSchema,
  madviceSchema,
  mapFlagsSchema,
  mclFlagsSchema,
  mclInheritSchema,
  mlock2FlagsSchema,
  pageCountSchema,
  pidSchema,
  ppidSchema,
  profileSchema,
  protSchema,
  signalSchema,
  vmFlagsSchema,
} from './vocabulary.js';

/**
 * A scenario file (spec/scenario-format.md) parsed into the kernel's `Scenario`: hex strings become
 * numbers, "unlimited" becomes RLIM_INFINITY, a process's `vmas` + `brk` become an ExplicitImage.
 * Every object is strict: an unknown key is reported with the closest known one.
 */

const flag = z.boolean();

const imageLayoutSchema: z.ZodType<ImageLayout> = strictWithHints(
  {
    format: imageFormatSchema,
    argPages: pageCountSchema,
    textPages: pageCountSchema,
    dataPages: pageCountSchema,
    bssPages: pageCountSchema,
    vdsoPages: pageCountSchema,
    interpPages: pageCountSchema.exactOptional(),
  },
  'image',
);

const vmaSchema: z.ZodType<VmaSpec> = strictWithHints(
  { start: byteValue, end: byteValue, prot: protSchema, special: flag.exactOptional(), growsDown: flag.exactOptional() },
  'vma',
).superRefine(checkVma, ALWAYS);

const vmasSchema = z.array(vmaSchema).superRefine(checkVmaList, ALWAYS);

const explicitImageSchema: z.ZodType<ExplicitImage> = strictWithHints(
  { format: imageFormatSchema.exactOptional(), vmas: vmasSchema, brk: byteValue },
  'image',
);

const imageSchema = eitherImage(imageLayoutSchema, explicitImageSchema);

const rlimitSchema = strictWithHints({ cur: rlimitByteValue, max: rlimitByteValue }, 'rlimitMemlock').superRefine((rlim, ctx) => {
  // A starting state the kernel cannot be in: setrlimit refuses cur > max with EINVAL.
  if (isRecord(rlim) && typeof rlim.cur === 'number' && typeof rlim.max === 'number' && rlim.cur > rlim.max) {
    ctx.issues.push({ code: 'custom', input: rlim.cur, path: ['cur'], message: `must not exceed max (${rlim.max})` });
  }
}, ALWAYS);

const processSchema = strictWithHints(
  {
    pid: pidSchema,
    ppid: ppidSchema.exactOptional(),
    capIpcLock: flag.exactOptional(),
    capSysResource: flag.exactOptional(),
    rlimitMemlock: rlimitSchema.exactOptional(),
    kernelThread: flag.exactOptional(),
    image: imageSchema.exactOptional(),
    vmas: vmasSchema.exactOptional(),
    brk: byteValue.exactOptional(),
  },
  'process',
)
  .superRefine((p, ctx) => {
    if (!isRecord(p)) return;
    const has = (key: string): boolean => Object.hasOwn(p, key);
    const problem = (key: string, message: string): void => {
      ctx.issues.push({ code: 'custom', input: undefined, path: key === '' ? [] : [key], message });
    };
    if (p.kernelThread === true) {
      // A kernel thread has no mm (current->mm == NULL): there is nothing to lay out.
      for (const key of ['image', 'vmas', 'brk']) if (has(key)) problem(key, 'a kernel thread ("kernelThread": true) has no memory map; remove this field');
      return;
    }
    if (has('image') && (has('vmas') || has('brk'))) {
      problem(has('vmas') ? 'vmas' : 'brk', 'give either "image" or "vmas" + "brk", not both');
    } else if (has('vmas') && !has('brk')) {
      problem('brk', 'required with "vmas" (the program break of the explicit layout)');
    } else if (has('brk') && !has('vmas')) {
      problem('vmas', 'required with "brk" (the mappings of the explicit layout)');
    } else if (!has('image') && !has('vmas')) {
      problem('', 'a process needs an "image", or "vmas" + "brk", or "kernelThread": true');
    }
  }, ALWAYS)
  .transform((p): InitialProcess => {
    const { vmas, brk, image, ...rest } = p;
    const explicit: Image | undefined = vmas !== undefined && brk !== undefined ? { vmas, brk } : image;
    return explicit === undefined ? rest : { ...rest, image: explicit };
  });

const processesSchema = z
  .array(processSchema)
  .min(1, { error: 'a scenario needs at least one process' })
  .superRefine((processes, ctx) => {
    const seen = new Map<number, number>();
    processes.forEach((p: unknown, i) => {
      if (!isRecord(p) || typeof p.pid !== 'number') return;
      const first = seen.get(p.pid);
      if (first === undefined) seen.set(p.pid, i);
      else ctx.issues.push({ code: 'custom', input: p.pid, path: [i, 'pid'], message: `pid ${p.pid} is already used by processes[${first}]` });
    });
  }, ALWAYS);

const expectationSchema = strictWithHints(
  {
    errno: errnoSchema.nullable().exactOptional(),
    signal: signalSchema.nullable().exactOptional(),
    lockedVmPages: lockedVmPagesSchema.exactOptional(),
    totalVmPages: pageCountSchema.exactOptional(),
    defFlags: vmFlagsSchema.exactOptional(),
    mclInherit: mclInheritSchema.exactOptional(),
    alive: flag.exactOptional(),
  },
  'expect',
);

const common = { pid: pidSchema, expect: expectationSchema.exactOptional() };
const range = { addr: byteValue, length: byteValue };

const stepOptions = [
  z.object({ op: z.literal('fork'), ...common, child: pidSchema }),
  z.object({ op: z.literal('vfork'), ...common, child: pidSchema }),
  z.object({ op: z.literal('clone'), ...common, child: pidSchema, shareVm: flag }),
  z.object({ op: z.literal('exec'), ...common, image: imageSchema }),
  z.object({ op: z.literal('exit'), ...common }),
  z.object({ op: z.literal('mmap'), ...common, addr: byteValue.exactOptional(), length: byteValue, prot: protSchema, flags: mapFlagsSchema }),
  z.object({ op: z.literal('munmap'), ...common, ...range }),
  z
    .object({ op: z.literal('brk'), ...common, addr: byteValue.exactOptional(), increment: signedByteValue.exactOptional() })
    .superRefine((step, ctx) => {
      if (!isRecord(step)) return;
      const hasAddr = Object.hasOwn(step, 'addr');
      if (hasAddr === Object.hasOwn(step, 'increment')) {
        ctx.issues.push({
          code: 'custom',
          input: step,
          path: hasAddr ? ['increment'] : [],
          message: hasAddr
            ? 'give either "addr" (brk) or "increment" (sbrk), not both'
            : 'needs either "addr" (brk to an address) or "increment" (sbrk by a byte count)',
        });
      }
    }, ALWAYS),
  z.object({ op: z.literal('mlock'), ...common, ...range }),
  z.object({ op: z.literal('mlock2'), ...common, ...range, flags: mlock2FlagsSchema }),
  z.object({ op: z.literal('munlock'), ...common, ...range }),
  z.object({ op: z.literal('mlockall'), ...common, flags: mclFlagsSchema }),
  z.object({ op: z.literal('munlockall'), ...common }),
  z.object({ op: z.literal('setrlimit'), ...common, cur: rlimitByteValue, max: rlimitByteValue }),
  z.object({ op: z.literal('capset'), ...common, capIpcLock: flag.exactOptional(), capSysResource: flag.exactOptional() }),
  z.object({ op: z.literal('madvise'), ...common, ...range, advice: madviceSchema }),
  z.object({ op: z.literal('mremap'), ...common, addr: byteValue, oldLength: byteValue, newLength: byteValue }),
  z.object({ op: z.literal('growstack'), ...common, length: byteValue }),
  z.object({ op: z.literal('check'), ...common }),
] as const;

type StepOptionOp = (typeof stepOptions)[number]['shape']['op']['value'];
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
// Every kernel operation has a step schema, and nothing else does.
const _everyOp: Same<StepOptionOp, OpName> = true;
void _everyOp;

const stepKeys = new Map<string, ReadonlySet<string>>(stepOptions.map((o) => [o.shape.op.value, new Set(Object.keys(o.shape))]));

const stepSchema = z.preprocess((value, ctx) => {
  // Known op: its own keys. Unknown or missing op: the union reports that, and nothing else.
  const op = isRecord(value) ? value.op : undefined;
  const allowed = typeof op === 'string' ? stepKeys.get(op) : undefined;
  return allowed === undefined ? value : reportUnknownKeys(value, allowed, `${op} step`, ctx);
}, z.discriminatedUnion('op', stepOptions));

const scenarioSchema = strictWithHints(
  {
    name: z.string().min(1),
    profile: profileSchema,
    pageSize: z
      .literal(4096, { error: (issue) => `must be 4096 (the model has 4 KiB pages only), got ${describeValue(issue.input)}` })
      .exactOptional(),
    description: z.string().exactOptional(),
    processes: processesSchema,
    steps: z.array(stepSchema),
  },
  'scenario',
);

export type ParseScenarioResult = { ok: true; scenario: Scenario } | { ok: false; problems: Problem[] };

/**
 * Parses a scenario file: the value of `JSON.parse`, or the JSON text itself. Reports every problem,
 * each with its path (`steps[3].flags[1]`); never throws.
 */
export function parseScenario(json: unknown): ParseScenarioResult {
  let input = json;
  if (typeof json === 'string') {
    try {
      input = JSON.parse(json) as unknown;
    } catch (error) {
      return { ok: false, problems: [{ path: '', message: `not valid JSON: ${error instanceof Error ? error.message : String(error)}` }] };
    }
  }
  try {
    const result = scenarioSchema.safeParse(input, PARSE_OPTIONS);
    if (!result.success) return { ok: false, problems: problemsFromIssues(result.error.issues) };
    const steps: ScenarioStep[] = result.data.steps;
    const scenario: Scenario = { ...result.data, steps };
    return { ok: true, scenario };
  } catch (error) {
    return { ok: false, problems: [{ path: '', message: `could not be parsed: ${error instanceof Error ? error.message : String(error)}` }] };
  }
}
