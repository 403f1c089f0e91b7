// A small, strict JSON reader (RFC 8259) for criteria documents.
//
// The core parses criteria from text so that it can be unit-tested and fuzzed
// without PostgreSQL; the glue hands it the canonical text of a jsonb value.
// Numbers keep their literal spelling so that money thresholds stay exact.
// String bytes outside ASCII pass through unchanged (the database encoding).
#pragma once

#include "core/pure.hpp"

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace segmentation::json {

enum class Kind { Null, Boolean, Number, String, Array, Object };

struct Value {
    Kind kind = Kind::Null;
    bool boolean = false;
    std::string text;                                    // string contents, or a number's literal
    std::vector<Value> items;                            // array elements
    std::vector<std::pair<std::string, Value>> members;  // object members, in document order
};

// One step down into a document: an object member's key, or an array index.
struct Step {
    bool is_index;
    std::string key;
    std::size_t index;
};

// Thrown for text that is not JSON; `offset` is the byte where reading stopped.
class SyntaxError : public std::runtime_error {
public:
    SyntaxError(std::size_t offset, const std::string& what, bool too_deep = false, std::vector<Step> where = {})
        : std::runtime_error(what), offset_(offset), too_deep_(too_deep), where_(std::move(where)) {}
    std::size_t offset() const noexcept { return offset_; }
    // True when the text was refused only for nesting deeper than kMaxDepth.
    bool too_deep() const noexcept { return too_deep_; }
    // When too_deep(): the steps from the root to the value nested too deeply.
    const std::vector<Step>& where() const noexcept { return where_; }

private:
    std::size_t offset_;
    bool too_deep_;
    std::vector<Step> where_;
};

// Error messages quote at most this many bytes of a document's text.
constexpr std::size_t kQuoteLimit = 100;

// `text` cut to kQuoteLimit bytes (at a UTF-8 character boundary) with "..."
// marking the cut, for quoting in error messages: a key may be megabytes long.
std::string excerpt(std::string_view text);

// Arrays and objects may nest this deep; deeper text is refused rather than
// risking the stack (criteria themselves stop at 32 levels, well inside this).
constexpr int kMaxDepth = 256;

// Parses one JSON value filling the whole text (surrounding whitespace
// allowed). Duplicate object keys are an error.
Value parse(std::string_view text);

// Human-readable name of a kind, for error messages ("an array", "a string").
const char* describe(Kind kind) noexcept;

}  // namespace segmentation::json
