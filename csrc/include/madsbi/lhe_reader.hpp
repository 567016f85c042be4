// Streaming reader for Les Houches Event files (LHEF 1–3, plain or gzip) as MadGraph writes
// them, with <rwgt> weights. A background thread inflates the file while the caller parses.
// Strict: every number is a whole token; all gzip members are read, and nothing but white
// space may follow </LesHouchesEvents> (no trailing bytes, no second document).
// Bounded memory whatever the input: a file must show <LesHouchesEvents> in its first
// kStartWindow bytes (a gzip bomb of zeros is refused there), white space streams by, and
// the text between two tags (the header, an event, the gap before the next one) is capped at
// kMaxSpan bytes.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace madsbi {

// Raised for malformed, truncated or corrupt input; bound to ValueError.
class LheError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One chunk of events. Particle arrays are padded to max_particles per event (row-major
// n_events × max_particles); padding entries have pdg = status = 0 and zero kinematics.
struct LheEventChunk {
  std::size_t n_events = 0;
  std::size_t max_particles = 0;
  std::size_t n_weights = 0;
  std::vector<std::int32_t> n_particles, process_id;
  std::vector<double> weight, scale, aqed, aqcd;
  std::vector<std::int32_t> pdg, status, mother1, mother2, color1, color2;
  std::vector<double> momentum;  // n_events × max_particles × 4, as (E, px, py, pz)
  std::vector<double> mass, lifetime, spin;
  std::vector<double> rwgt;  // n_events × n_weights, columns in the order of the weight ids
};

class LheReader {
 public:
  static constexpr std::size_t kStartWindow = std::size_t{8} << 10;  // 8 kB
  static constexpr std::size_t kMaxSpan = std::size_t{64} << 20;     // 64 MiB

  LheReader(const std::string& path, std::size_t block_bytes);
  ~LheReader();
  LheReader(const LheReader&) = delete;
  LheReader& operator=(const LheReader&) = delete;

  // Everything before the first <event>: the <header> and <init> blocks.
  const std::string& header() const { return header_; }
  // The <rwgt> weight ids every event must carry, in output column order.
  void set_weight_ids(const std::vector<std::string>& ids);
  // Parses up to max_events further events (fewer at the end of the file).
  LheEventChunk read(std::size_t max_events);
  bool finished() const { return finished_; }
  std::size_t events_read() const { return events_read_; }
  std::uint64_t bytes_consumed() const { return consumed_before_buffer_ + pos_; }

 private:
  struct ParticleColumns;
  struct Block {
    std::string data;
    bool eof = false;
    std::string error;
  };
  void produce();
  Block next_block();  // waits for the producer's next block
  bool fill();  // appends the next block to buf_; false at end of input
  // The first of `a` or `b` at or after `from`, reading more input as needed; npos at the end
  // of the input. Throws LheError naming `what` once more than kMaxSpan unconsumed bytes are
  // buffered without it.
  std::size_t find_either(const char* a, const char* b, std::size_t from, const std::string& what);
  std::size_t find_or_fill(const char* needle, std::size_t from, const std::string& what) {
    return find_either(needle, needle, from, what);
  }
  // Consumes white space, reading more input as needed (the consumed part is dropped).
  void skip_space_streaming();
  // After </LesHouchesEvents>: reads the rest of the input, which may only be white space.
  void check_after_end();
  // Throws LheError for malformed content, unless the gzip stream turns out to be corrupt.
  [[noreturn]] void fail(const std::string& what);
  std::string context() const;  // "LHE file '…' (after N events, at byte B): "
  void parse_event(const char* begin, const char* end, LheEventChunk& chunk,
                   ParticleColumns& columns, std::vector<std::int64_t>& offsets);

  std::string path_;
  std::size_t block_bytes_;
  std::string header_;
  std::string buf_;
  std::size_t pos_ = 0;
  std::uint64_t consumed_before_buffer_ = 0;
  bool input_done_ = false;
  bool finished_ = false;
  std::size_t events_read_ = 0;
  std::vector<std::string> weight_ids_;
  std::unordered_map<std::string, int> weight_index_;
  std::vector<char> weight_seen_;

  // producer/consumer state
  std::thread producer_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Block> queue_;
  bool stop_ = false;
  static constexpr std::size_t kQueueDepth = 4;
};

}  // namespace madsbi
