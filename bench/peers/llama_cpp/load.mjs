// llama.cpp's own loader as a `ringload bench --peers llama.cpp` row: times node-llama-cpp's
// loadModel (the prebuilt CPU build of llama.cpp, every layer on the CPU) for one mode and prints
// one JSON object on stdout. The bench runs this in a fresh process per run, in a directory where
// `npm ci` installed package-lock.json; it measures the page cache itself after the process ends.
//   node load.mjs MODEL.gguf no-mmap|direct-io|mmap
// Exit 0 with the JSON; exit 1 with one line on stderr when the model does not load; 2 on bad usage.
import {readFileSync} from "node:fs";
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const modes = {
  "no-mmap": {useMmap: false, useDirectIo: false},    // read(2) into its own buffers
  "direct-io": {useMmap: false, useDirectIo: true},   // O_DIRECT reads (falls back where refused)
  "mmap": {useMmap: true, useDirectIo: false},        // MAP_POPULATE: weights stay in the page cache
};

const [modelPath, mode] = process.argv.slice(2);
if (!modelPath || !(mode in modes)) {
  process.stderr.write(`usage: node load.mjs MODEL.gguf ${Object.keys(modes).join("|")}\n`);
  process.exit(2);
}

// /proc/self/status figures in bytes: VmHWM (peak RSS of the whole process) and RssAnon.
function status(key) {
  const match = readFileSync("/proc/self/status", "utf8").match(new RegExp(`^${key}:\\s+(\\d+) kB`, "m"));
  return match ? Number(match[1]) * 1024 : null;
}

try {
  // CPU only, never a source build or a download: the prebuilt binary npm ci installed.
  const llama = await getLlama({
    gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true, progressLogs: false,
    logLevel: LlamaLogLevel.error,
  });
  const rssBefore = status("VmRSS");
  const cpuBefore = process.cpuUsage();
  const start = process.hrtime.bigint();
  const model = await llama.loadModel({
    modelPath, gpuLayers: 0, ...modes[mode], checkTensors: false, ignoreMemorySafetyChecks: true,
  });
  const loadSeconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  // After the clock stopped: llama.cpp's own view of what it loaded (the tests compare it with
  // `ringload inspect`), and a tokenizer round trip through the model's vocabulary.
  const text = "Hello, ringload! 0x0A\n";
  const report = {
    peer: "llama.cpp",
    mode,
    load_s: loadSeconds,
    cpu_s: (cpu.user + cpu.system) / 1e6,
    peak_rss: status("VmHWM"),
    anon_rss_after: status("RssAnon"),
    rss_before_load: rssBefore,
    model_size: model.size,                         // llama_model_size: bytes of all its tensors
    tensor_count: model.fileInfo.tensorInfo?.length ?? null,
    architecture: model.fileInfo.metadata?.general?.architecture ?? null,
    embedding_length: model.embeddingVectorSize,
    train_context_size: model.trainContextSize,
    description: model.typeDescription,
    vocabulary_type: model.vocabularyType,
    newline_token: model.tokens.nl,
    tokenizer_round_trip: model.detokenize(model.tokenize(text)) === text,
    node_llama_cpp: "3.21.1",
    llama_cpp: `${llama.llamaCppRelease.repo}@${llama.llamaCppRelease.release}`,
    build: llama.buildType,
  };
  process.stdout.write(JSON.stringify(report) + "\n");
  await model.dispose();
  await llama.dispose();
} catch (error) {
  // One line: the bench shows it as the row's reason.
  process.stderr.write(`llama.cpp ${mode}: ${String(error?.message ?? error).split("\n")[0]}\n`);
  process.exit(1);
}
