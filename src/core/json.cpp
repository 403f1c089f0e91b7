#include "core/json.hpp"

#include <cstdint>

namespace segmentation::json {
namespace {

class Reader {
public:
    explicit Reader(std::string_view text) : text_(text) {}

    Value document() {
        skip_space();
        Value v = value(1);
        skip_space();
        if (pos_ != text_.size()) fail("unexpected text after the JSON value");
        return v;
    }

private:
    std::string_view text_;
    std::size_t pos_ = 0;
    // Where value() is reading: the keys (owned by object()'s frames) and
    // indices on the way down, to say where text nests too deeply.
    struct Trail {
        const std::string* key;
        std::size_t index;
    };
    std::vector<Trail> trail_;

    [[noreturn]] void fail(const std::string& what) const {
        throw SyntaxError(pos_, what + " at byte " + std::to_string(pos_));
    }

    bool at_end() const { return pos_ >= text_.size(); }
    char peek() const { return at_end() ? '\0' : text_[pos_]; }

    void skip_space() {
        while (!at_end()) {
            char c = text_[pos_];
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
            ++pos_;
        }
    }

    void expect_word(std::string_view word) {
        if (text_.substr(pos_, word.size()) != word) fail("invalid literal");
        pos_ += word.size();
    }

    Value value(int depth) {
        if (depth > kMaxDepth) {
            std::vector<Step> where;
            for (const Trail& t : trail_)
                where.push_back(t.key ? Step{false, *t.key, 0} : Step{true, std::string(), t.index});
            throw SyntaxError(pos_, "JSON nested too deeply at byte " + std::to_string(pos_), true, std::move(where));
        }
        Value v;
        switch (peek()) {
            case '{':
                v.kind = Kind::Object;
                object(v, depth);
                break;
            case '[':
                v.kind = Kind::Array;
                array(v, depth);
                break;
            case '"':
                v.kind = Kind::String;
                v.text = string();
                break;
            case 't':
                expect_word("true");
                v.kind = Kind::Boolean;
                v.boolean = true;
                break;
            case 'f':
                expect_word("false");
                v.kind = Kind::Boolean;
                break;
            case 'n': expect_word("null"); break;
            default:
                if (peek() == '-' || (peek() >= '0' && peek() <= '9')) {
                    v.kind = Kind::Number;
                    v.text = number();
                } else {
                    fail(at_end() ? "unexpected end of JSON" : "unexpected character");
                }
        }
        return v;
    }

    void object(Value& v, int depth) {
        ++pos_;  // '{'
        skip_space();
        if (peek() == '}') {
            ++pos_;
            return;
        }
        for (;;) {
            skip_space();
            if (peek() != '"') fail("expected a string key");
            std::string key = string();
            for (const auto& member : v.members)
                if (member.first == key) fail("duplicate key \"" + excerpt(key) + "\"");
            skip_space();
            if (peek() != ':') fail("expected ':'");
            ++pos_;
            skip_space();
            trail_.push_back(Trail{&key, 0});
            Value member = value(depth + 1);
            trail_.pop_back();
            v.members.emplace_back(std::move(key), std::move(member));
            skip_space();
            if (peek() == ',') {
                ++pos_;
                continue;
            }
            if (peek() == '}') {
                ++pos_;
                return;
            }
            fail("expected ',' or '}'");
        }
    }

    void array(Value& v, int depth) {
        ++pos_;  // '['
        skip_space();
        if (peek() == ']') {
            ++pos_;
            return;
        }
        for (;;) {
            skip_space();
            trail_.push_back(Trail{nullptr, v.items.size()});
            Value item = value(depth + 1);
            trail_.pop_back();
            v.items.push_back(std::move(item));
            skip_space();
            if (peek() == ',') {
                ++pos_;
                continue;
            }
            if (peek() == ']') {
                ++pos_;
                return;
            }
            fail("expected ',' or ']'");
        }
    }

    std::string number() {
        std::size_t start = pos_;
        if (peek() == '-') ++pos_;
        if (peek() == '0') {
            ++pos_;
        } else if (peek() >= '1' && peek() <= '9') {
            while (peek() >= '0' && peek() <= '9') ++pos_;
        } else {
            fail("invalid number");
        }
        if (peek() == '.') {
            ++pos_;
            if (!(peek() >= '0' && peek() <= '9')) fail("invalid number");
            while (peek() >= '0' && peek() <= '9') ++pos_;
        }
        if (peek() == 'e' || peek() == 'E') {
            ++pos_;
            if (peek() == '+' || peek() == '-') ++pos_;
            if (!(peek() >= '0' && peek() <= '9')) fail("invalid number");
            while (peek() >= '0' && peek() <= '9') ++pos_;
        }
        return std::string(text_.substr(start, pos_ - start));
    }

    unsigned hex4() {
        unsigned code = 0;
        for (int i = 0; i < 4; ++i) {
            char c = peek();
            unsigned digit;
            if (c >= '0' && c <= '9')
                digit = static_cast<unsigned>(c - '0');
            else if (c >= 'a' && c <= 'f')
                digit = static_cast<unsigned>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                digit = static_cast<unsigned>(c - 'A' + 10);
            else
                fail("invalid \\u escape");
            code = code * 16 + digit;
            ++pos_;
        }
        return code;
    }

    static void append_utf8(std::string& out, std::uint32_t cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    std::string string() {
        ++pos_;  // opening quote
        std::string out;
        for (;;) {
            if (at_end()) fail("unterminated string");
            char c = text_[pos_];
            if (c == '"') {
                ++pos_;
                return out;
            }
            if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
            if (c != '\\') {
                // Bytes pass through untouched: text arrives in the database
                // encoding, and loyalty levels compare byte for byte.
                out += c;
                ++pos_;
                continue;
            }
            ++pos_;
            char e = peek();
            ++pos_;
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    std::uint32_t cp = hex4();
                    if (cp >= 0xD800 && cp <= 0xDBFF) {
                        if (text_.substr(pos_, 2) != "\\u") fail("unpaired surrogate in \\u escape");
                        pos_ += 2;
                        std::uint32_t low = hex4();
                        if (low < 0xDC00 || low > 0xDFFF) fail("unpaired surrogate in \\u escape");
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                        fail("unpaired surrogate in \\u escape");
                    } else if (cp == 0) {
                        // PostgreSQL text cannot hold NUL; jsonb refuses it too.
                        fail("\\u0000 is not allowed");
                    }
                    append_utf8(out, cp);
                    break;
                }
                default: --pos_; fail("invalid escape");
            }
        }
    }
};

}  // namespace

Value parse(std::string_view text) { return Reader(text).document(); }

std::string excerpt(std::string_view text) {
    if (text.size() <= kQuoteLimit) return std::string(text);
    std::size_t cut = kQuoteLimit;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // inside a character
    return std::string(text.substr(0, cut)) + "...";
}

const char* describe(Kind kind) noexcept {
    switch (kind) {
        case Kind::Null: return "null";
        case Kind::Boolean: return "a boolean";
        case Kind::Number: return "a number";
        case Kind::String: return "a string";
        case Kind::Array: return "an array";
        case Kind::Object: return "an object";
    }
    return "a value";
}

}  // namespace segmentation::json
