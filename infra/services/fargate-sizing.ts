/**
 * Fargate task sizes. A task's cpu and memory must be one of the combinations
 * AWS accepts, or `pulumi up` fails late, at RegisterTaskDefinition; checking
 * here turns that into a config error at preview.
 *
 * Source: AWS docs, "Amazon ECS task definition parameters for Fargate",
 * section "Task size" (the same table awsx's `fargateMemoryAndCpu.ts` cites).
 */

/** CPU units → accepted memory (MiB): min, max, step. */
const FARGATE_MEMORY_BY_CPU: ReadonlyMap<number, { min: number; max: number; step: number }> = new Map([
  [256, { min: 512, max: 2048, step: 512 }], // 512, 1024, 2048 (1536 is not listed; handled below)
  [512, { min: 1024, max: 4096, step: 1024 }],
  [1024, { min: 2048, max: 8192, step: 1024 }],
  [2048, { min: 4096, max: 16384, step: 1024 }],
  [4096, { min: 8192, max: 30720, step: 1024 }],
  [8192, { min: 16384, max: 61440, step: 4096 }],
  [16384, { min: 32768, max: 122880, step: 8192 }],
]);

/** Memory values accepted for `cpu`, in MiB, ascending. */
export function fargateMemoryOptions(cpu: number): number[] {
  const range = FARGATE_MEMORY_BY_CPU.get(cpu);
  if (!range) return [];
  if (cpu === 256) return [512, 1024, 2048];
  const out: number[] = [];
  for (let m = range.min; m <= range.max; m += range.step) out.push(m);
  return out;
}

/**
 * Returns undefined when (cpu, memory) is a valid Fargate size, else a
 * message that names the accepted values (the fix).
 */
export function fargateSizeProblem(cpu: number, memory: number): string | undefined {
  if (!FARGATE_MEMORY_BY_CPU.has(cpu)) {
    return `cpu ${cpu} is not a Fargate size; use one of ${[...FARGATE_MEMORY_BY_CPU.keys()].join(", ")}`;
  }
  const options = fargateMemoryOptions(cpu);
  if (!options.includes(memory)) {
    const shown = options.length > 8 ? `${options[0]}..${options[options.length - 1]} in steps of ${options[1] - options[0]}` : options.join(", ");
    return `memory ${memory} MiB does not fit cpu ${cpu}; use ${shown}`;
  }
  return undefined;
}
