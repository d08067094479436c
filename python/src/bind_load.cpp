// Worker, Job, Block and LoadReport: running a load and turning what it filled into tensors.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "errors.hpp"
#include "interruptible_wait.hpp"
#include "load_job.hpp"
#include "load_worker.hpp"
#include "py_source.hpp"
#include "ringload/pipeline.hpp"
#include "ringload/sink.hpp"
#include "source.hpp"
#include "tensor_block.hpp"
#include "tensor_export.hpp"

namespace py = pybind11;

namespace ringload::python {
namespace {

using BlockPtr = std::shared_ptr<TensorBlock>;
using JobPtr = std::shared_ptr<LoadJob>;

BlockPtr make_block(const Source& source, int cuda_device) {
  if (cuda_device < 0)
    return std::make_shared<TensorBlock>(std::make_unique<HostSink>(), source.format(), std::nullopt);
  auto sink = value_or_raise(make_cuda_sink(CudaSinkOptions{.device = cuda_device}));
  return std::make_shared<TensorBlock>(std::move(sink), source.format(), cuda_device);
}

Strategy strategy_named(const std::string& name) {
  if (const auto strategy = strategy_from_name(name)) return *strategy;
  std::string known;
  for (const Strategy s : all_strategies()) known += (known.empty() ? "" : ", ") + std::string(to_string(s));
  throw py::value_error(fmt::format("unknown strategy '{}'; one of: {}", name, known));
}

class PyWorker {
 public:
  explicit PyWorker(bool keep_ring) : worker_(std::make_unique<LoadWorker>(keep_ring)) {}

  JobPtr start(const SourcePtr& source, int cuda_device, const std::string& strategy, bool checksum,
               bool release, std::optional<std::vector<std::string>> tensors) {
    if (!worker_) throw py::value_error("the loader was closed");
    LoadSettings settings{strategy_named(strategy), checksum, release,
                          std::move(tensors).value_or(std::vector<std::string>{})};
    BlockPtr block = make_block(*source, cuda_device);
    return worker_->start(source, std::move(block), std::move(settings));
  }

  // Cancels what runs and joins the thread, without the GIL (the thread never needs it).
  void close() {
    const py::gil_scoped_release unlocked;
    worker_.reset();
  }

 private:
  std::unique_ptr<LoadWorker> worker_;
};

py::object next_ready(LoadJob& job, double timeout_s) {
  std::pair<LoadJob::Next, std::uint32_t> next{LoadJob::Next::timeout, 0};
  wait_interruptibly(job, timeout_s, [&](std::chrono::milliseconds slice) {
    next = job.next_ready_for(slice);
    return next.first != LoadJob::Next::timeout;
  });
  switch (next.first) {
    case LoadJob::Next::tensor: return py::int_(next.second);
    case LoadJob::Next::end: return py::int_(-1);
    case LoadJob::Next::timeout: break;
  }
  return py::none();
}

LoadReport result(const LoadJob& job) {
  if (auto error = job.error()) raise_error(*error);
  if (auto report = job.report()) return std::move(*report);
  throw py::value_error("the load has not ended yet; wait() first");
}

py::object export_tensor(const BlockPtr& block, std::size_t index, const std::string& framework) {
  if (index >= block->count()) throw py::index_error("no tensor " + std::to_string(index) + " in this block");
  if (framework == "pt") return to_dlpack(block, index);
  if (framework == "np") return to_numpy(block, index);
  throw py::value_error(fmt::format("framework '{}': use \"pt\" (torch) or \"np\" (numpy)", framework));
}

// (name, dtype, tensor object) for every tensor, in file order.
py::list export_all(const BlockPtr& block, const std::string& framework) {
  py::list out(block->count());
  for (std::size_t i = 0; i < block->count(); ++i) {
    const BlockTensor& t = block->tensor(i);
    out[i] = py::make_tuple(t.name, std::string(dtype_name(t.dtype)), export_tensor(block, i, framework));
  }
  return out;
}

void bind_report(py::module_& module) {
  py::class_<TensorDigest>(module, "TensorDigest",
                           "One loaded tensor: where its bytes came from, their SHA-256.")
      .def_readonly("name", &TensorDigest::name)
      .def_readonly("offset", &TensorDigest::offset, "Absolute file offset of the first loaded byte.")
      .def_readonly("size", &TensorDigest::size, "Bytes loaded.")
      .def_readonly("sha256", &TensorDigest::sha256, "Lower-case hex; empty unless checksum=True.")
      .def("__repr__", [](const TensorDigest& d) {
        return fmt::format("TensorDigest(name='{}', offset={}, size={}, sha256='{}')", d.name, d.offset,
                           d.size, d.sha256);
      });
  // Attribute names are the C++ LoadReport's (include/ringload/pipeline.hpp).
  py::class_<LoadReport>(module, "LoadReport", py::dynamic_attr(),
                         "What one load did and what it left behind.")
      .def_readonly("path", &LoadReport::path)
      .def_property_readonly("requested",
                             [](const LoadReport& r) { return std::string(to_string(r.requested)); })
      .def_property_readonly(
          "strategy", [](const LoadReport& r) { return std::string(to_string(r.strategy)); },
          "The strategy that ran (auto resolved).")
      .def_readonly("io_engine", &LoadReport::io_engine,
                    "What read the bytes: 'io_uring', 'pread' (where io_uring is blocked), 'mmap' or 'read'.")
      .def_readonly("io_engine_reason", &LoadReport::io_engine_reason,
                    "Why that engine: 'asked for', or auto's facts (e.g. io_uring_setup failed: EPERM).")
      .def_readonly("sink", &LoadReport::sink)
      .def_readonly("bytes", &LoadReport::bytes, "Tensor bytes delivered.")
      .def_readonly("bytes_read", &LoadReport::bytes_read, "File bytes read (aligned supersets included).")
      .def_readonly("bytes_read_in_place", &LoadReport::bytes_read_in_place,
                    "Of bytes_read, those read straight into the destination (no staging copy).")
      .def_readonly("tensors", &LoadReport::tensors)
      .def_readonly("wall_s", &LoadReport::wall_s)
      .def_readonly("gb_per_s", &LoadReport::gb_per_s, "bytes / wall_s / 1e9")
      .def_readonly("time_to_first_tensor_s", &LoadReport::time_to_first_tensor_s)
      .def_readonly("read_busy_s", &LoadReport::read_busy_s)
      .def_readonly("copy_busy_s", &LoadReport::copy_busy_s)
      .def_readonly("release_busy_s", &LoadReport::release_busy_s)
      .def_readonly("cpu_user_s", &LoadReport::cpu_user_s)
      .def_readonly("cpu_system_s", &LoadReport::cpu_system_s)
      .def_readonly("peak_rss_bytes", &LoadReport::peak_rss_bytes, "VmHWM of the process.")
      .def_readonly("storage_bytes_read", &LoadReport::storage_bytes_read,
                    "Bytes the process read from storage during the load (/proc/self/io read_bytes; cache "
                    "hits excluded).")
      .def_readonly("anon_rss_before_bytes", &LoadReport::anon_rss_before_bytes)
      .def_readonly("anon_rss_after_bytes", &LoadReport::anon_rss_after_bytes)
      .def_readonly("file_resident_pages_after", &LoadReport::file_resident_pages_after)
      .def_readonly("file_total_pages", &LoadReport::file_total_pages)
      .def_readonly("staging_bytes", &LoadReport::staging_bytes)
      .def_readonly("staging_huge_pages", &LoadReport::staging_huge_pages)
      .def_readonly("staging_registered", &LoadReport::staging_registered)
      .def_readonly("staging_pinned", &LoadReport::staging_pinned)
      .def_readonly("warnings", &LoadReport::warnings)
      .def_readonly("digests", &LoadReport::digests, "Per loaded tensor, file order.")
      .def("__repr__", [](const LoadReport& r) {
        return fmt::format(
            "LoadReport(path='{}', strategy='{}', sink='{}', tensors={}, bytes={}, wall_s={:.4f}, "
            "gb_per_s={:.3f}, "
            "time_to_first_tensor_s={:.4f}, file_resident_pages_after={})",
            r.path, to_string(r.strategy), r.sink, r.tensors, r.bytes, r.wall_s, r.gb_per_s,
            r.time_to_first_tensor_s, r.file_resident_pages_after);
      });
}

}  // namespace

void bind_load(py::module_& module) {
  bind_report(module);

  py::class_<TensorBlock, BlockPtr>(module, "Block", "The memory one load (or slice) filled.")
      .def_property_readonly("count", &TensorBlock::count)
      .def("export", &export_tensor, py::arg("index"), py::arg("framework"),
           "A DLPack capsule (\"pt\") or numpy array (\"np\") over tensor `index`, no copy.")
      .def("export_all", &export_all, py::arg("framework"), "[(name, dtype, tensor)] in file order.")
      .def("name", [](const TensorBlock& b, std::size_t i) { return b.tensor(i).name; })
      .def("dtype",
           [](const TensorBlock& b, std::size_t i) { return std::string(dtype_name(b.tensor(i).dtype)); })
      .def("host_range", &TensorBlock::host_range,
           "(first tensor byte, first + bytes the host sink allocated): every tensor lies inside.")
      .def_property_readonly("cuda_device", &TensorBlock::cuda_device);

  py::class_<LoadJob, JobPtr>(module, "Job", "A load running on a worker's thread.")
      .def(
          "wait",
          [](LoadJob& job, double timeout_s) {
            return wait_interruptibly(job, timeout_s, [&](std::chrono::milliseconds slice) {
              return job.wait_finished_for(slice);
            });
          },
          py::arg("timeout_s") = -1.0,
          "True once the load ended. GIL released; Ctrl-C cancels the load and raises KeyboardInterrupt.")
      .def("next_ready", &next_ready, py::arg("timeout_s") = -1.0,
           "Index of the next ready tensor (file order), -1 once none will come, None on timeout.")
      .def("progress",
           [](const LoadJob& job) {
             const LoadProgress p = job.progress();
             return py::make_tuple(p.bytes_done, p.bytes_total, p.tensors_done, p.tensors_total, p.seconds);
           })
      .def("cancel", &LoadJob::cancel)
      .def_property_readonly("finished", &LoadJob::finished)
      .def("result", &result, "The LoadReport, or raises the load's ringload.Error.")
      .def("block", &LoadJob::block);

  py::class_<PyWorker>(module, "Worker", "Runs loads on a thread of its own.")
      .def(py::init<bool>(), py::arg("keep_ring") = false)
      .def(
          "start",
          [](PyWorker& w, const PySource& source, int cuda_device, const std::string& strategy, bool checksum,
             bool release, const std::optional<std::vector<std::string>>& tensors) {
            return w.start(source.get(), cuda_device, strategy, checksum, release, tensors);
          },
          py::arg("source"), py::arg("cuda_device") = -1, py::arg("strategy") = "auto",
          py::arg("checksum") = false, py::arg("release") = true, py::arg("tensors") = py::none())
      .def("close", &PyWorker::close);
}

}  // namespace ringload::python
