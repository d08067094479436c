// The CPU time of the whole process (every thread, io_uring's kernel workers included): what one
// `ringload load` process spends on its one load, and what `bench` compares across strategies and
// sinks (a load report's own figure leaves out io_uring's workers, see LoadReport::cpu_user_s).
#pragma once

namespace ringload::cli {

struct ProcessCpu {
  double user_s = 0;
  double system_s = 0;
  [[nodiscard]] double total_s() const noexcept { return user_s + system_s; }
};

[[nodiscard]] ProcessCpu process_cpu() noexcept;

}  // namespace ringload::cli
