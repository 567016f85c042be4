#include "madsbi/lhe_reader.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace madsbi {

namespace {

constexpr int kMaxParticlesPerEvent = 1000;

inline bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

inline const char* skip_space(const char* p, const char* end) {
  while (p < end && is_space(*p)) ++p;
  return p;
}

// A number ends at white space, at the next tag or at the end of the text. Without this
// check from_chars would read the longest prefix that is a number ("1.81x02e+01" as 1.81,
// "0x1.2p4" as 0) and leave the rest to be skipped or misread.
inline bool at_token_end(const char* p, const char* end) {
  return p == end || is_space(*p) || *p == '<';
}

// from_chars reports out_of_range for a decimal number that rounds to zero or to infinity,
// where Python's float() (and strtod) return ±0.0 or ±inf. Such a number is either below
// 1e-300 or above 1e300 in magnitude, so the sign of its decimal exponent tells which.
inline double out_of_range_value(const char* p, const char* end) {
  bool negative = false;
  if (p < end && (*p == '-' || *p == '+')) negative = *p++ == '-';
  bool point = false, nonzero = false;
  long long before = 0, zeros_after = 0;  // digits before the point from the first nonzero
  for (; p < end && ((*p >= '0' && *p <= '9') || *p == '.'); ++p) {
    if (*p == '.') {
      point = true;
    } else if (nonzero) {
      before += point ? 0 : 1;
    } else if (*p != '0') {
      nonzero = true;
      before = point ? 0 : 1;
    } else if (point) {
      ++zeros_after;
    }
  }
  long long exponent = 0;
  if (p < end && (*p == 'e' || *p == 'E')) {
    ++p;
    bool negative_exponent = false;
    if (p < end && (*p == '-' || *p == '+')) negative_exponent = *p++ == '-';
    for (; p < end && *p >= '0' && *p <= '9'; ++p) {
      exponent = std::min(exponent * 10 + (*p - '0'), 1LL << 40);
    }
    if (negative_exponent) exponent = -exponent;
  }
  const long long leading = before > 0 ? before - 1 : -(zeros_after + 1);
  const double magnitude =
      leading + exponent > 0 ? std::numeric_limits<double>::infinity() : 0.0;
  return negative ? -magnitude : magnitude;
}

// Parses one whole token as T (integers in decimal, doubles in decimal or scientific
// notation, "inf"/"nan" accepted as from_chars reads them: the caller checks finiteness),
// with the value Python's float() gives the same text. from_chars rejects a leading '+',
// which LHE files use for every signed number, so one '+' is skipped here ("+-1" and "++1"
// stay errors). Integers out of the range of T are errors.
template <typename T>
inline bool parse_number(const char*& p, const char* end, T& out) {
  p = skip_space(p, end);
  const char* q = p;
  if (q < end && *q == '+') {
    ++q;
    if (q < end && (*q == '-' || *q == '+')) return false;
  }
  const auto result = std::from_chars(q, end, out);
  if (!at_token_end(result.ptr, end)) return false;
  if (result.ec == std::errc::result_out_of_range) {
    if constexpr (!std::is_floating_point_v<T>) return false;
    out = static_cast<T>(out_of_range_value(q, result.ptr));
  } else if (result.ec != std::errc()) {
    return false;
  }
  p = result.ptr;
  return true;
}

// The text of a value for an error message: its first 40 characters, control characters
// (other than spaces) and non-ASCII bytes shown as '?' (the message must be valid UTF-8).
std::string shown(std::string_view text) {
  const std::size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return "";
  text.remove_prefix(first);
  text = text.substr(0, text.find_last_not_of(" \t\r\n") + 1);
  std::string out(text.substr(0, 40));
  for (char& ch : out) {
    if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) >= 0x7f) ch = '?';
  }
  if (text.size() > 40) out += "...";
  return out;
}

}  // namespace

// Jagged particle columns of the events parsed into one chunk, padded at the end.
struct LheReader::ParticleColumns {
  std::vector<std::int32_t> pdg, status, mother1, mother2, color1, color2;
  std::vector<double> px, py, pz, energy, mass, lifetime, spin;
};

LheReader::LheReader(const std::string& path, std::size_t block_bytes)
    : path_(path), block_bytes_(std::max<std::size_t>(block_bytes, 1 << 16)) {
  // Open here so that a missing file fails at construction, in the caller's thread.
  std::FILE* probe = std::fopen(path_.c_str(), "rb");
  if (probe == nullptr) {
    throw std::invalid_argument("cannot open LHE file '" + path_ + "': " + std::strerror(errno));
  }
  std::fclose(probe);
  producer_ = std::thread([this]() { produce(); });
  try {
    // Judge the file by its first kilobytes, before reading (or inflating) any more of it.
    while (buf_.size() < kStartWindow && fill()) {
    }
    const std::string_view start = std::string_view(buf_).substr(0, kStartWindow);
    const std::size_t opening = start.find("<LesHouchesEvents");
    if (opening == std::string_view::npos) {
      throw LheError(context() +
                     "not a Les Houches Event file: no <LesHouchesEvents> tag at the start (in "
                     "its first 8 kB, which begin '" +
                     shown(start) + "')");
    }
    const std::size_t init_end = find_or_fill("</init>", opening, "the header (up to </init>)");
    if (init_end == std::string::npos) fail("file ends before </init> (truncated header)");
    pos_ = init_end + std::strlen("</init>");
    header_.assign(buf_, 0, pos_);
  } catch (...) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    producer_.join();
    throw;
  }
}

LheReader::~LheReader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (producer_.joinable()) producer_.join();
}

// Inflates with zlib's inflate() rather than gzread(), which silently ignores bytes after
// the end of the gzip data. Every gzip member is read (a concatenated gzip, e.g. from pigz or
// `cat a.gz b.gz`, is one valid gzip stream); anything after the last member that is not a
// gzip member is an error. Input that does not start with the gzip magic bytes is plain text.
void LheReader::produce() {
  auto push = [this](Block&& block) {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [this]() { return stop_ || queue_.size() < kQueueDepth; });
    if (stop_) return false;
    queue_.push_back(std::move(block));
    cv_.notify_all();
    return true;
  };
  auto push_error = [&push](std::string message) {
    Block block;
    block.error = std::move(message);
    push(std::move(block));
  };
  std::FILE* file = std::fopen(path_.c_str(), "rb");
  if (file == nullptr) {
    push_error(std::string("cannot open: ") + std::strerror(errno));
    return;
  }
  struct Closer {
    std::FILE* f;
    ~Closer() { std::fclose(f); }
  } closer{file};

  std::vector<unsigned char> in(std::size_t{1} << 18);
  std::size_t in_have = 0, in_pos = 0;
  std::uint64_t in_offset = 0;  // compressed bytes before in[0]
  bool in_eof = false;
  // Moves the unread input to the front and reads more; false (after pushing the error) if
  // reading fails.
  auto refill = [&]() {
    std::memmove(in.data(), in.data() + in_pos, in_have - in_pos);
    in_offset += in_pos;
    in_have -= in_pos;
    in_pos = 0;
    while (!in_eof && in_have < in.size()) {
      const std::size_t n = std::fread(in.data() + in_have, 1, in.size() - in_have, file);
      in_have += n;
      if (n == 0) {
        if (std::ferror(file)) {
          push_error(std::string("read error: ") + std::strerror(errno));
          return false;
        }
        in_eof = true;
      }
    }
    return true;
  };
  if (!refill()) return;
  const bool gzip = in_have >= 2 && in[0] == 0x1f && in[1] == 0x8b;

  if (!gzip) {
    for (;;) {
      Block block;
      while (block.data.size() < block_bytes_) {
        if (in_pos == in_have) {
          if (in_eof) break;
          if (!refill()) return;
          if (in_pos == in_have) break;
        }
        const std::size_t more = std::min(block_bytes_ - block.data.size(), in_have - in_pos);
        block.data.append(reinterpret_cast<const char*>(in.data() + in_pos), more);
        in_pos += more;
      }
      block.eof = in_pos == in_have && in_eof;
      const bool eof = block.eof;
      if (!push(std::move(block)) || eof) return;
    }
  }

  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
    push_error("cannot initialise zlib");
    return;
  }
  struct InflateEnd {
    z_stream* zs;
    ~InflateEnd() { inflateEnd(zs); }
  } inflate_end{&zs};
  std::size_t member = 1;
  for (;;) {
    Block block;
    block.data.resize(block_bytes_);
    zs.next_out = reinterpret_cast<Bytef*>(block.data.data());
    zs.avail_out = static_cast<uInt>(block_bytes_);
    bool end = false;
    while (zs.avail_out > 0 && !end) {
      if (in_pos == in_have) {
        if (!refill()) return;
        if (in_have == 0) {
          push_error("gzip stream is truncated (unexpected end of file in gzip member " +
                     std::to_string(member) + ")");
          return;
        }
      }
      zs.next_in = in.data() + in_pos;
      zs.avail_in = static_cast<uInt>(in_have - in_pos);
      const int ret = inflate(&zs, Z_NO_FLUSH);
      in_pos = in_have - zs.avail_in;
      if (ret == Z_STREAM_END) {
        // The end of a member: another member follows, or the end of the file, or junk.
        if (in_have - in_pos < 2 && !in_eof && !refill()) return;
        const std::size_t left = in_have - in_pos;
        if (left == 0) {
          end = true;
        } else if (left >= 2 && in[in_pos] == 0x1f && in[in_pos + 1] == 0x8b) {
          inflateReset(&zs);
          ++member;
        } else {
          push_error("the file goes on after the end of its gzip data (gzip member " +
                     std::to_string(member) + " ends at compressed byte " +
                     std::to_string(in_offset + in_pos) +
                     ", followed by bytes that are not a gzip member): data appended to "
                     "the file, or a damaged file");
          return;
        }
      } else if (ret != Z_OK && !(ret == Z_BUF_ERROR && zs.avail_in == 0)) {
        push_error(std::string("gzip stream is corrupt: ") +
                   (zs.msg != nullptr ? std::string(zs.msg) : "zlib error " + std::to_string(ret)) +
                   " (gzip member " + std::to_string(member) + ")");
        return;
      }
    }
    block.data.resize(block_bytes_ - zs.avail_out);
    block.eof = end;
    if (!push(std::move(block)) || end) return;
  }
}

LheReader::Block LheReader::next_block() {
  Block block;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [this]() { return !queue_.empty(); });
    block = std::move(queue_.front());
    queue_.pop_front();
  }
  cv_.notify_all();
  return block;
}

bool LheReader::fill() {
  if (input_done_) return false;
  Block block = next_block();
  if (!block.error.empty()) {
    input_done_ = true;
    throw LheError(context() + block.error);
  }
  if (block.eof) input_done_ = true;
  // Drop the consumed prefix before growing, so the buffer stays a few blocks long.
  if (pos_ > 0 && pos_ * 2 >= buf_.size()) {
    consumed_before_buffer_ += pos_;
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(block.data);
  return !block.data.empty() || !input_done_;
}

std::size_t LheReader::find_either(const char* a, const char* b, std::size_t from,
                                   const std::string& what) {
  const std::size_t len = std::max(std::strlen(a), std::strlen(b));
  for (;;) {
    const std::size_t at = std::min(buf_.find(a, from), buf_.find(b, from));
    if (at != std::string::npos) return at;
    if (buf_.size() - pos_ > kMaxSpan) {
      // Not through fail(): inflating the rest of a gzip bomb to look for a bad CRC would
      // take as long as the bomb is large.
      throw LheError(context() + what + " is longer than 64 MiB (no '" + a +
                     (std::strcmp(a, b) != 0 ? std::string("' or '") + b : std::string()) +
                     "' in the next 64 MiB of text): not an LHE file as MadGraph writes it, "
                     "or a damaged one");
    }
    // Search only the new bytes next time, overlapping by a needle split across blocks.
    // `from` >= pos_ always, and fill() may drop the pos_ bytes before it.
    from = std::max(from, buf_.size() >= len ? buf_.size() - len + 1 : std::size_t{0});
    const std::size_t old_pos = pos_;
    if (!fill()) return std::string::npos;
    from -= old_pos - pos_;
  }
}

void LheReader::skip_space_streaming() {
  for (;;) {
    const char* data = buf_.data();
    pos_ = static_cast<std::size_t>(skip_space(data + pos_, data + buf_.size()) - data);
    if (pos_ < buf_.size() || !fill()) return;
  }
}

std::string LheReader::context() const {
  return "LHE file '" + path_ + "' (after " + std::to_string(events_read_) +
         " events, at decompressed byte " + std::to_string(consumed_before_buffer_ + pos_) +
         "): ";
}

void LheReader::fail(const std::string& what) {
  // A corrupt deflate stream often still inflates to garbage text and is only caught by the
  // CRC at its end: inflate the rest (discarding it) so that such files are reported as
  // corrupt gzip rather than as malformed events.
  const std::string where = context();
  while (!input_done_) {
    const Block block = next_block();
    if (!block.error.empty()) {
      input_done_ = true;
      throw LheError(where + block.error + " (the inflated text is garbled too: " + what + ")");
    }
    if (block.eof) input_done_ = true;
  }
  throw LheError(where + what);
}

void LheReader::check_after_end() {
  for (;;) {
    skip_space_streaming();
    if (pos_ == buf_.size()) return;
    // Enough of the rest to recognise a comment or a second document's opening tag.
    while (buf_.size() - pos_ < 256 && fill()) {
    }
    const std::string_view rest = std::string_view(buf_).substr(pos_, 256);
    if (rest.substr(0, 4) == "<!--") {  // an XML comment cannot hold events
      const std::size_t close =
          find_or_fill("-->", pos_ + 4, "a <!-- comment after </LesHouchesEvents>");
      if (close == std::string::npos) fail("unclosed <!-- comment after </LesHouchesEvents>");
      pos_ = close + 3;
      continue;
    }
    if (rest.find("<LesHouchesEvents") != std::string_view::npos) {
      fail("a second Les Houches document follows </LesHouchesEvents>: files joined "
           "together (e.g. `cat a.lhe.gz b.lhe.gz`) are not one LHE file; convert each "
           "file separately and merge the stores");
    }
    fail("unexpected text after </LesHouchesEvents>: '" + shown(rest) + "'");
  }
}

void LheReader::set_weight_ids(const std::vector<std::string>& ids) {
  weight_ids_ = ids;
  weight_index_.clear();
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (!weight_index_.emplace(ids[i], static_cast<int>(i)).second) {
      throw std::invalid_argument("weight ids: '" + ids[i] + "' is listed twice");
    }
  }
  weight_seen_.assign(ids.size(), 0);
}

LheEventChunk LheReader::read(std::size_t max_events) {
  LheEventChunk chunk;
  chunk.n_weights = weight_ids_.size();
  ParticleColumns columns;
  std::vector<std::int64_t> offsets{0};
  constexpr const char* kEnd = "</LesHouchesEvents>";
  while (!finished_ && chunk.n_events < max_events) {
    skip_space_streaming();
    // Only the gap before the next event can hold the closing tag.
    const std::size_t start = find_either(
        "<event", kEnd, pos_,
        events_read_ == 0 ? std::string("the text before the first event")
                          : "the text after event " + std::to_string(events_read_ - 1));
    if (start != std::string::npos && buf_.compare(start, std::strlen(kEnd), kEnd) == 0) {
      pos_ = start + std::strlen(kEnd);
      check_after_end();
      finished_ = true;
      break;
    }
    if (start == std::string::npos) {
      pos_ = buf_.size();
      fail("file ends without </LesHouchesEvents> (truncated?)");
    }
    pos_ = start;
    const std::size_t stop =
        find_or_fill("</event>", start, "event " + std::to_string(events_read_));
    if (stop == std::string::npos) {
      pos_ = buf_.size();
      fail("file ends inside an <event> block (truncated)");
    }
    // find_or_fill may have moved the buffer; locate the event again from pos_.
    const char* data = buf_.data();
    parse_event(data + pos_, data + stop, chunk, columns, offsets);
    pos_ = stop + std::strlen("</event>");
    ++chunk.n_events;
    ++events_read_;
  }

  // Pad the jagged particle columns to n_events × max_particles.
  const std::size_t n = chunk.n_events;
  std::size_t p_max = 0;
  for (std::size_t e = 0; e < n; ++e) {
    p_max = std::max<std::size_t>(p_max, static_cast<std::size_t>(offsets[e + 1] - offsets[e]));
  }
  chunk.max_particles = p_max;
  const std::size_t cells = n * p_max;
  chunk.pdg.assign(cells, 0);
  chunk.status.assign(cells, 0);
  chunk.mother1.assign(cells, 0);
  chunk.mother2.assign(cells, 0);
  chunk.color1.assign(cells, 0);
  chunk.color2.assign(cells, 0);
  chunk.momentum.assign(cells * 4, 0.0);
  chunk.mass.assign(cells, 0.0);
  chunk.lifetime.assign(cells, 0.0);
  chunk.spin.assign(cells, 0.0);
  for (std::size_t e = 0; e < n; ++e) {
    const std::size_t begin = static_cast<std::size_t>(offsets[e]);
    const std::size_t count = static_cast<std::size_t>(offsets[e + 1]) - begin;
    for (std::size_t j = 0; j < count; ++j) {
      const std::size_t src = begin + j, dst = e * p_max + j;
      chunk.pdg[dst] = columns.pdg[src];
      chunk.status[dst] = columns.status[src];
      chunk.mother1[dst] = columns.mother1[src];
      chunk.mother2[dst] = columns.mother2[src];
      chunk.color1[dst] = columns.color1[src];
      chunk.color2[dst] = columns.color2[src];
      chunk.momentum[dst * 4 + 0] = columns.energy[src];
      chunk.momentum[dst * 4 + 1] = columns.px[src];
      chunk.momentum[dst * 4 + 2] = columns.py[src];
      chunk.momentum[dst * 4 + 3] = columns.pz[src];
      chunk.mass[dst] = columns.mass[src];
      chunk.lifetime[dst] = columns.lifetime[src];
      chunk.spin[dst] = columns.spin[src];
    }
  }
  return chunk;
}

void LheReader::parse_event(const char* begin, const char* end, LheEventChunk& chunk,
                            ParticleColumns& c, std::vector<std::int64_t>& offsets) {
  const char* p = static_cast<const char*>(std::memchr(begin, '>', end - begin));
  if (p == nullptr) fail("malformed <event> tag");
  ++p;
  int nup = 0, idprup = 0;
  double xwgtup = 0, scalup = 0, aqedup = 0, aqcdup = 0;
  if (!parse_number(p, end, nup) || !parse_number(p, end, idprup) ||
      !parse_number(p, end, xwgtup) || !parse_number(p, end, scalup) ||
      !parse_number(p, end, aqedup) || !parse_number(p, end, aqcdup)) {
    fail("malformed first line of event " + std::to_string(events_read_));
  }
  if (nup < 1 || nup > kMaxParticlesPerEvent) {
    fail("event " + std::to_string(events_read_) + " declares " + std::to_string(nup) +
         " particles (expected 1.." + std::to_string(kMaxParticlesPerEvent) + ")");
  }
  chunk.n_particles.push_back(nup);
  chunk.process_id.push_back(idprup);
  chunk.weight.push_back(xwgtup);
  chunk.scale.push_back(scalup);
  chunk.aqed.push_back(aqedup);
  chunk.aqcd.push_back(aqcdup);
  for (int i = 0; i < nup; ++i) {
    std::int32_t id, st, m1, m2, c1, c2;
    double px, py, pz, e, m, vt, sp;
    if (!parse_number(p, end, id) || !parse_number(p, end, st) || !parse_number(p, end, m1) ||
        !parse_number(p, end, m2) || !parse_number(p, end, c1) || !parse_number(p, end, c2) ||
        !parse_number(p, end, px) || !parse_number(p, end, py) || !parse_number(p, end, pz) ||
        !parse_number(p, end, e) || !parse_number(p, end, m) || !parse_number(p, end, vt) ||
        !parse_number(p, end, sp)) {
      fail("malformed particle line " + std::to_string(i + 1) + " of event " +
           std::to_string(events_read_));
    }
    c.pdg.push_back(id);
    c.status.push_back(st);
    c.mother1.push_back(m1);
    c.mother2.push_back(m2);
    c.color1.push_back(c1);
    c.color2.push_back(c2);
    c.px.push_back(px);
    c.py.push_back(py);
    c.pz.push_back(pz);
    c.energy.push_back(e);
    c.mass.push_back(m);
    c.lifetime.push_back(vt);
    c.spin.push_back(sp);
  }
  offsets.push_back(offsets.back() + nup);
  // After NUP particle lines only optional blocks (<tag>) or comments (#) may follow.
  const char* after = skip_space(p, end);
  if (after < end && *after != '<' && *after != '#') {
    fail("event " + std::to_string(events_read_) + " has more particle lines than its NUP = " +
         std::to_string(nup));
  }

  // Optional blocks after the particles; only <rwgt> matters here.
  const std::string_view rest(p, static_cast<std::size_t>(end - p));
  const std::size_t rw = rest.find("<rwgt>");
  const std::size_t n_ids = weight_ids_.size();
  if (rw == std::string_view::npos) {
    if (n_ids > 0) {
      fail("event " + std::to_string(events_read_) + " has no <rwgt> block, but the header " +
           "declares " + std::to_string(n_ids) + " weight ids");
    }
    return;
  }
  if (n_ids == 0) {
    fail("event " + std::to_string(events_read_) +
         " carries <rwgt> weights but the header declares no <initrwgt> weight ids");
  }
  const std::size_t row = chunk.rwgt.size();
  chunk.rwgt.resize(row + n_ids, 0.0);
  std::fill(weight_seen_.begin(), weight_seen_.end(), 0);
  const std::size_t rw_end = rest.find("</rwgt>", rw);
  if (rw_end == std::string_view::npos) {
    fail("event " + std::to_string(events_read_) + ": <rwgt> block is not closed");
  }
  std::size_t at = rw + 6;
  std::size_t expected = 0;  // ids usually come in header order: try that before hashing
  for (;;) {
    const std::size_t tag = rest.find("<wgt", at);
    if (tag == std::string_view::npos || tag > rw_end) break;
    const std::size_t q1 = rest.find_first_of("'\"", rest.find("id", tag));
    const std::size_t q2 = q1 == std::string_view::npos ? q1 : rest.find(rest[q1], q1 + 1);
    const std::size_t gt = q2 == std::string_view::npos ? q2 : rest.find('>', q2);
    if (gt == std::string_view::npos || gt > rw_end) {
      fail("event " + std::to_string(events_read_) + ": malformed <wgt> tag");
    }
    const std::string_view id = rest.substr(q1 + 1, q2 - q1 - 1);
    int col = -1;
    if (expected < n_ids && id == weight_ids_[expected]) {
      col = static_cast<int>(expected);
    } else {
      const auto it = weight_index_.find(std::string(id));
      if (it == weight_index_.end()) {
        fail("event " + std::to_string(events_read_) + " has weight id '" + std::string(id) +
             "', which the header's <initrwgt> does not declare");
      }
      col = it->second;
    }
    expected = static_cast<std::size_t>(col) + 1;
    // The whole text up to </wgt> must be one number: no trailing junk, no second number.
    const std::size_t close = rest.find("</wgt>", gt);
    if (close == std::string_view::npos || close > rw_end) {
      fail("event " + std::to_string(events_read_) + ": weight id '" + std::string(id) +
           "' has no </wgt> before </rwgt>");
    }
    const char* v = rest.data() + gt + 1;
    const char* v_end = rest.data() + close;
    double value = 0.0;
    if (!parse_number(v, v_end, value) || skip_space(v, v_end) != v_end) {
      fail("event " + std::to_string(events_read_) + ", weight id '" + std::string(id) +
           "': value '" + shown(rest.substr(gt + 1, close - gt - 1)) +
           "' is not one decimal number (expected e.g. +1.8170265e+01 between <wgt> and "
           "</wgt>)");
    }
    if (weight_seen_[col]) {
      fail("event " + std::to_string(events_read_) + " lists weight id '" + std::string(id) +
           "' twice");
    }
    weight_seen_[col] = 1;
    chunk.rwgt[row + col] = value;
    at = close + std::strlen("</wgt>");
  }
  for (std::size_t k = 0; k < n_ids; ++k) {
    if (!weight_seen_[k]) {
      fail("event " + std::to_string(events_read_) + " lacks weight id '" + weight_ids_[k] + "'");
    }
  }
}

}  // namespace madsbi
