/** `npm start` (app/main.ts) as a child process, as a person runs it; resolves once it printed its URL and components. */
import { ChildProcess, spawn } from "child_process";

export interface RunningStart {
  child: ChildProcess;
  url: string;
  /** Everything it printed so far (stdout and stderr). */
  output: string[];
  stop(): Promise<void>;
}

export async function startNpmStart(env: NodeJS.ProcessEnv, timeoutMs: number): Promise<RunningStart> {
  const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", "app/main.ts"], { env, stdio: ["ignore", "pipe", "pipe"] });
  const output: string[] = [];
  child.stderr!.on("data", (d) => output.push(String(d)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL printed in ${timeoutMs / 1000} s:\n${output.join("")}`)), timeoutMs);
    child.stdout!.on("data", (d) => {
      output.push(String(d));
      const text = output.join("");
      const m = /running at (http:\/\/\S+)/.exec(text);
      if (m && /components: .*\n/.test(text)) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once("exit", (code) => reject(new Error(`npm start exited with ${code}:\n${output.join("")}`)));
  });
  return {
    child,
    url,
    output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    },
  };
}
