//! Parses YAML text into a tree of nodes that remember the line and column they were written at.
//!
//! Built on granit-parser's event parser (the one under serde-saphyr, which reads the lock and
//! the simulator's fault plans) rather than a serde deserializer so that every value, not
//! only the first error, carries its place, and so that scalars keep their text as written
//! (`version: 1.10` stays `1.10`, not the float `1.1`).

use std::collections::HashMap;

use granit_parser::{Event, Marker, Parser, ScalarStyle};

use super::{shown, Problems};

/// Deepest nesting accepted; a manifest needs five levels.
const MAX_DEPTH: usize = 64;

/// Most values accepted, counting each alias as the values it repeats (stops "billion laughs").
const MAX_NODES: usize = 100_000;

/// A place in the manifest, 1-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mark {
    pub line: usize,
    pub column: usize,
}

impl Mark {
    fn of(marker: &Marker) -> Self {
        // granit-parser counts lines from 1 and columns from 0.
        Self {
            line: marker.line().max(1),
            column: marker.col() + 1,
        }
    }
}

/// A YAML value and where it starts (for a block mapping: where its first key starts).
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub value: Value,
    pub mark: Mark,
}

#[derive(Clone, Debug)]
pub(crate) enum Value {
    /// Any scalar, as written. `plain` is false for quoted, block and `!!str` scalars.
    Scalar {
        text: String,
        plain: bool,
    },
    Sequence(Vec<Node>),
    /// Entries in file order, duplicates already reported and dropped.
    Mapping(Vec<Entry>),
}

/// One `key: value` of a mapping.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub key: String,
    pub key_mark: Mark,
    pub value: Node,
}

impl Node {
    /// Whether this is YAML's null: an empty plain scalar, `~` or `null`.
    pub(super) fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// What kind of value this is, for messages: "found {kind}".
    pub(super) fn kind(&self) -> &'static str {
        match &self.value {
            _ if self.is_null() => "nothing",
            Value::Scalar { .. } => "text",
            Value::Sequence(_) => "a list",
            Value::Mapping(_) => "a mapping",
        }
    }
}

/// Parses `text` (one YAML document) into a tree.
///
/// Returns `None` after recording the problem when the text cannot be read as YAML; an empty
/// document reads as a null scalar. Duplicate keys are recorded and dropped but do not stop parsing.
pub(crate) fn parse(text: &str, problems: &mut Problems) -> Option<Node> {
    let mut parser = Parser::new_from_str(text);
    let mut builder = Builder {
        stack: Vec::new(),
        anchors: HashMap::new(),
        nodes: 0,
        root: None,
        problems,
    };
    let mut documents = 0;
    loop {
        let (event, span) = match parser.next_event() {
            Some(Ok(next)) => next,
            // The parser ends after `StreamEnd`, which ends this loop first.
            None => break,
            Some(Err(error)) => {
                let mark = Mark::of(error.marker());
                let problem = builder
                    .problems
                    .add(Some(mark), format!("invalid YAML: {}", error.info()));
                if let Some(hint) = block_scalar_hint(text, mark.line) {
                    problem.with_hint(hint);
                }
                return None;
            }
        };
        let marker = span.start;
        let mark = Mark::of(&marker);
        let step = match event {
            Event::StreamEnd => {
                // Prove the parser read every character: a scanner that stops early (at a NUL,
                // say) must not make the rest of the file silently not exist.
                let length = text.chars().count();
                if marker.index() < length {
                    builder
                        .problems
                        .add(
                            Some(mark),
                            format!(
                                "the YAML parser stopped here, before the end of the file ({} of {length} characters read)",
                                marker.index()
                            ),
                        )
                        .with_hint("the rest of the file would be ignored: look for a stray character at this place");
                    return None;
                }
                break;
            }
            Event::DocumentStart(..) => {
                documents += 1;
                if documents > 1 {
                    builder
                        .problems
                        .add(
                            Some(mark),
                            "a manifest is one YAML document, found a second one",
                        )
                        .with_hint("remove the `---` line and merge the documents");
                    break;
                }
                Ok(())
            }
            Event::Scalar(text, style, anchor, tag) => {
                if let Some(c) = crate::printable::forbidden_in_value(&text) {
                    // Written as a YAML escape (`"\e"`, `"\u202e"`): the raw byte is refused
                    // before parsing, its escape here, for keys and values alike.
                    builder
                        .problems
                        .add(Some(mark), format!("a value holds {}, written as an escape", crate::printable::describe(c)))
                        .with_hint("keys, names and values may not hold control or bidirectional characters");
                }
                let forced_text =
                    tag.is_some_and(|tag| tag.suffix() == "str" || tag.suffix().ends_with(":str"));
                let plain = style == ScalarStyle::Plain && !forced_text;
                builder.count(1, mark).and_then(|()| {
                    builder.complete(
                        Node {
                            value: Value::Scalar {
                                text: text.into_owned(),
                                plain,
                            },
                            mark,
                        },
                        anchor,
                    )
                })
            }
            Event::SequenceStart(_, anchor, _) => builder.open(Frame::Sequence {
                mark,
                anchor,
                items: Vec::new(),
            }),
            Event::MappingStart(_, anchor, _) => builder.open(Frame::Mapping {
                mark,
                anchor,
                entries: Vec::new(),
                key: PendingKey::Expected,
                seen: HashMap::new(),
                first_key: None,
            }),
            Event::SequenceEnd | Event::MappingEnd => builder.close(),
            Event::Alias(id) => builder.alias(id, mark),
            // Stream and document bounds, and presentation metadata (comments, anchor names)
            // that the tree does not keep.
            _ => Ok(()),
        };
        if step.is_err() {
            return None;
        }
    }
    Some(builder.root.unwrap_or(Node {
        value: Value::Scalar {
            text: String::new(),
            plain: true,
        },
        mark: Mark { line: 1, column: 1 },
    }))
}

/// The problem that stopped parsing was recorded already.
struct Stop;

struct Builder<'p> {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Anchored>,
    nodes: usize,
    root: Option<Node>,
    problems: &'p mut Problems,
}

/// A node with an anchor (`&name`), kept for its aliases (`*name`).
struct Anchored {
    node: Node,
    size: usize,
    height: usize,
}

enum Frame {
    Sequence {
        mark: Mark,
        anchor: usize,
        items: Vec<Node>,
    },
    Mapping {
        mark: Mark,
        anchor: usize,
        entries: Vec<Entry>,
        key: PendingKey,
        seen: HashMap<String, Mark>,
        first_key: Option<Mark>,
    },
}

/// What the next completed node in a mapping is.
enum PendingKey {
    /// A key.
    Expected,
    /// The value of this key.
    Value(String, Mark),
    /// The value of a key that was reported (duplicate or not text): dropped.
    Skip,
}

impl Builder<'_> {
    fn count(&mut self, nodes: usize, mark: Mark) -> Result<(), Stop> {
        self.nodes = self.nodes.saturating_add(nodes);
        if self.nodes > MAX_NODES {
            self.problems
                .add(
                    Some(mark),
                    format!("the manifest has more than {MAX_NODES} values (aliases included)"),
                )
                .with_hint("a manifest this large is almost certainly a mistake, or aliases that repeat each other");
            return Err(Stop);
        }
        Ok(())
    }

    fn open(&mut self, frame: Frame) -> Result<(), Stop> {
        let mark = match &frame {
            Frame::Sequence { mark, .. } | Frame::Mapping { mark, .. } => *mark,
        };
        if self.stack.len() >= MAX_DEPTH {
            self.problems.add(
                Some(mark),
                format!("the manifest nests deeper than {MAX_DEPTH} levels"),
            );
            return Err(Stop);
        }
        self.count(1, mark)?;
        self.stack.push(frame);
        Ok(())
    }

    fn close(&mut self) -> Result<(), Stop> {
        let (node, anchor) = match self.stack.pop() {
            Some(Frame::Sequence {
                mark,
                anchor,
                items,
            }) => (
                Node {
                    value: Value::Sequence(items),
                    mark,
                },
                anchor,
            ),
            Some(Frame::Mapping {
                mark,
                anchor,
                entries,
                first_key,
                ..
            }) => (
                Node {
                    value: Value::Mapping(entries),
                    // A block mapping's start event is marked after its first key; the key is
                    // where a reader looks.
                    mark: first_key.unwrap_or(mark),
                },
                anchor,
            ),
            // The parser never ends a collection it did not start; ignore it if it ever does.
            None => return Ok(()),
        };
        self.complete(node, anchor)
    }

    fn alias(&mut self, id: usize, mark: Mark) -> Result<(), Stop> {
        let Some(anchored) = self.anchors.get(&id) else {
            self.problems.add(Some(mark), "alias to an unknown anchor");
            return Err(Stop);
        };
        if self.stack.len() + anchored.height > MAX_DEPTH {
            self.problems.add(
                Some(mark),
                format!("the manifest nests deeper than {MAX_DEPTH} levels"),
            );
            return Err(Stop);
        }
        let size = anchored.size;
        let mut node = anchored.node.clone();
        node.mark = mark;
        self.count(size, mark)?;
        self.complete(node, 0)
    }

    /// Places a finished node into its parent (or makes it the root).
    fn complete(&mut self, node: Node, anchor: usize) -> Result<(), Stop> {
        if anchor > 0 {
            let (size, height) = measure(&node);
            self.anchors.insert(
                anchor,
                Anchored {
                    node: node.clone(),
                    size,
                    height,
                },
            );
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Sequence { items, .. }) => items.push(node),
            Some(Frame::Mapping {
                entries,
                key,
                seen,
                first_key,
                ..
            }) => match std::mem::replace(key, PendingKey::Expected) {
                PendingKey::Expected => {
                    first_key.get_or_insert(node.mark);
                    *key = match node.value {
                        Value::Scalar { text, .. } => {
                            if let Some(first) = seen.get(&text) {
                                self.problems.add(
                                    Some(node.mark),
                                    format!(
                                        "duplicate key {} (first at line {})",
                                        shown_key(&text),
                                        first.line
                                    ),
                                );
                                PendingKey::Skip
                            } else {
                                seen.insert(text.clone(), node.mark);
                                PendingKey::Value(text, node.mark)
                            }
                        }
                        _ => {
                            self.problems.add(
                                Some(node.mark),
                                format!("a mapping key must be text, found {}", node.kind()),
                            );
                            PendingKey::Skip
                        }
                    };
                }
                PendingKey::Value(text, key_mark) => entries.push(Entry {
                    key: text,
                    key_mark,
                    value: node,
                }),
                PendingKey::Skip => {}
            },
        }
        Ok(())
    }
}

/// A mapping key for a message: in backticks when it looks like a field name, else not shown
/// (a key that long may be a pasted secret).
/// The hint for a YAML error on a line whose value starts with `>` or `|`: YAML reads those as the
/// start of a block of text, which is what an unquoted constraint such as `>=8.20` becomes.
fn block_scalar_hint(text: &str, line: usize) -> Option<&'static str> {
    let written = text.lines().nth(line.checked_sub(1)?)?;
    let (_, value) = written.split_once(": ")?;
    value.trim_start().starts_with(['>', '|']).then_some(
        "a value starting with `>` or `|` begins a YAML block of text: quote it, e.g. `version: \">=8.20, <9\"`",
    )
}

pub(crate) fn shown_key(key: &str) -> String {
    let looks_like_name = !key.is_empty()
        && key.chars().count() <= 40
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '<' | '~'));
    if looks_like_name {
        format!("`{}`", shown(key))
    } else {
        "(not shown: it does not look like a field name)".to_string()
    }
}

/// Counts a node's values and levels without recursion.
fn measure(node: &Node) -> (usize, usize) {
    let mut size = 0;
    let mut height = 0;
    let mut pending = vec![(node, 1)];
    while let Some((node, depth)) = pending.pop() {
        size += 1;
        height = height.max(depth);
        match &node.value {
            Value::Scalar { .. } => {}
            Value::Sequence(items) => pending.extend(items.iter().map(|item| (item, depth + 1))),
            Value::Mapping(entries) => {
                size += entries.len();
                pending.extend(entries.iter().map(|entry| (&entry.value, depth + 1)));
            }
        }
    }
    (size, height)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn parse_ok(text: &str) -> Node {
        let mut problems = Problems::new(Path::new("t.yaml"));
        let node = parse(text, &mut problems).expect("parses");
        assert!(problems.list.is_empty(), "{:?}", problems.list);
        node
    }

    fn parse_problems(text: &str) -> Vec<super::super::Problem> {
        let mut problems = Problems::new(Path::new("t.yaml"));
        let _ = parse(text, &mut problems);
        problems.list
    }

    #[test]
    fn marks_are_one_based_and_block_mappings_start_at_their_first_key() {
        let root = parse_ok("a:\n  - b: 1\n    c: '2'\n");
        let Value::Mapping(entries) = &root.value else {
            panic!()
        };
        assert_eq!(entries[0].key_mark, Mark { line: 1, column: 1 });
        let Value::Sequence(items) = &entries[0].value.value else {
            panic!()
        };
        assert_eq!(items[0].mark, Mark { line: 2, column: 5 });
        let Value::Mapping(inner) = &items[0].value else {
            panic!()
        };
        assert!(
            matches!(&inner[1].value.value, Value::Scalar { text, plain: false } if text == "2")
        );
        assert!(
            matches!(&inner[0].value.value, Value::Scalar { text, plain: true } if text == "1")
        );
    }

    #[test]
    fn scalars_keep_their_text() {
        let root = parse_ok("v: 1.10\n");
        let Value::Mapping(entries) = &root.value else {
            panic!()
        };
        assert!(matches!(&entries[0].value.value, Value::Scalar { text, .. } if text == "1.10"));
    }

    #[test]
    fn duplicate_keys_are_reported_at_the_second() {
        let problems = parse_problems("a: 1\nb: 2\na: 3\n");
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, Some(3));
        assert!(problems[0].message.contains("first at line 1"));
    }

    #[test]
    fn syntax_errors_carry_the_parser_place() {
        // granit-parser names the bracket left open, where yaml-rust2 named the end of the file.
        let problems = parse_problems("a: [b\n");
        assert_eq!(problems.len(), 1);
        assert_eq!((problems[0].line, problems[0].column), (Some(1), Some(4)));
        assert!(problems[0].message.starts_with("invalid YAML"));
        assert!(problems[0].message.contains("unclosed"), "{problems:?}");
    }

    #[test]
    fn aliases_expand_within_limits() {
        let root = parse_ok("a: &x {k: v}\nb: *x\n");
        let Value::Mapping(entries) = &root.value else {
            panic!()
        };
        assert!(matches!(&entries[1].value.value, Value::Mapping(inner) if inner[0].key == "k"));
        let mut laughs = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..10 {
            let previous = level - 1;
            laughs.push_str(&format!(
                "a{level}: &a{level} [*a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}]\n"
            ));
        }
        let problems = parse_problems(&laughs);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("more than"));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        let problems = parse_problems(&deep);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("deeper"), "{problems:?}");
        // Deeper still, the parser itself stops.
        assert_eq!(parse_problems(&"[".repeat(10_000)).len(), 1);
        // An alias may not push a tree past the limit either.
        let nested = format!(
            "a: &a {}x{}
b: {}*a{}
",
            "[".repeat(40),
            "]".repeat(40),
            "[".repeat(40),
            "]".repeat(40)
        );
        let problems = parse_problems(&nested);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("deeper"), "{problems:?}");
    }

    #[test]
    fn a_second_document_is_refused() {
        let problems = parse_problems("a: 1\n---\nb: 2\n");
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, Some(2));
    }

    /// The byte check refuses a NUL before parsing; this proves the parser's own end is checked
    /// too, for any character that would stop the scanner.
    #[test]
    fn a_parser_that_stops_early_is_a_problem() {
        // granit-parser refuses the NUL itself, at its place; either way the rest of the file
        // never silently disappears.
        let problems = parse_problems("a: 1\0\nb: 2\n");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!((problems[0].line, problems[0].column), (Some(1), Some(5)));
        assert!(
            problems[0].message.contains("before the end")
                || problems[0].message.contains("unexpected character"),
            "{problems:?}"
        );
        // Text beyond ASCII is read to its end (the parser counts characters, not bytes).
        let root = parse_ok("# é ✓ 😀\nname: \"héllo 😀\"\nb: ✓\n");
        assert!(matches!(&root.value, Value::Mapping(entries) if entries.len() == 2));
        parse_ok("a: 1\n...\n");
        parse_ok("a: 1\n# trailing comment without newline");
    }

    #[test]
    fn escaped_control_and_bidi_characters_are_refused_in_keys_and_values() {
        for text in [
            "a: \"x\\e[2Jy\"\n",
            "a: \"x\\0y\"\n",
            "\"k\\u202e\": 1\n",
            "a: [\"x\\u2066\"]\n",
            "a: \"x\\x85\"\n",
        ] {
            let problems = parse_problems(text);
            assert_eq!(problems.len(), 1, "{text}: {problems:?}");
            assert_eq!(problems[0].line, Some(1), "{text}");
        }
        // Tabs and line breaks written as escapes are ordinary text.
        parse_ok("a: \"x\\ty\\nz\"\n");
    }

    #[test]
    fn empty_text_is_null() {
        assert!(parse_ok("").is_null());
        assert!(parse_ok("# only a comment\n").is_null());
    }
}
