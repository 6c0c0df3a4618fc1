use super::*;
use xmpp::StanzaCondition;

fn grammar(rules: &str) -> String {
    format!(
        "<grammar xmlns='{NS_SRGS}' version='1.0' mode='dtmf' root='main' \
         tag-format='semantics/1.0-literals'>{rules}</grammar>"
    )
}

fn matcher(rules: &str) -> Matcher {
    Matcher::new(parse_srgs(&grammar(rules)).unwrap())
}

fn feed_all(m: &mut Matcher, digits: &str) -> Progress {
    let mut last = m.progress();
    for d in digits.chars() {
        last = m.feed(d);
    }
    last
}

fn matched(instance: &str, can_grow: bool) -> Progress {
    Progress::Match {
        instance: instance.into(),
        can_grow,
    }
}

fn refused(body: &str) -> String {
    let err = parse_srgs(body).unwrap_err();
    assert_eq!(err.condition, StanzaCondition::BadRequest);
    err.text
}

const DIGIT: &str = "<one-of><item>0</item><item>1</item><item>2</item><item>3</item>\
    <item>4</item><item>5</item><item>6</item><item>7</item><item>8</item><item>9</item></one-of>";

#[test]
fn adhearsion_pin_in_cdata_matches_at_once() {
    // RAYO.md §3.2's example, with an XML declaration as some clients send.
    let body = format!(
        "<?xml version='1.0'?>{}",
        grammar(&format!(
            "<rule id='main' scope='public'><item repeat='4'>{DIGIT}</item></rule>"
        ))
    );
    let mut m = Matcher::new(parse_srgs(&body).unwrap());
    assert_eq!(m.progress(), Progress::NeedMore);
    assert_eq!(feed_all(&mut m, "123"), Progress::NeedMore);
    assert_eq!(m.feed('4'), matched("1234", false));
    assert_eq!(m.digits(), "1234");
}

#[test]
fn wrong_digit_is_nomatch_at_once() {
    let mut m = matcher("<rule id='main'>1 2 3</rule>");
    assert_eq!(m.feed('1'), Progress::NeedMore);
    assert_eq!(m.feed('3'), Progress::NoMatch);
    assert_eq!(m.feed('3'), Progress::NoMatch);
}

#[test]
fn complete_but_can_grow_waits() {
    let mut m = matcher(&format!(
        "<rule id='main'><item repeat='2-4'>{DIGIT}</item></rule>"
    ));
    assert_eq!(m.feed('5'), Progress::NeedMore);
    assert_eq!(m.feed('6'), matched("56", true));
    assert_eq!(m.feed('7'), matched("567", true));
    assert_eq!(m.feed('8'), matched("5678", false));
    assert_eq!(m.feed('9'), Progress::NoMatch);
}

#[test]
fn open_repeat_and_zero_minimum() {
    let mut m = matcher("<rule id='main'><item repeat='2-'>1</item></rule>");
    assert_eq!(feed_all(&mut m, "1"), Progress::NeedMore);
    assert_eq!(feed_all(&mut m, "1111"), matched("11111", true));
    let mut m = matcher("<rule id='main'><item repeat='0-2'>*</item>#</rule>");
    assert_eq!(m.progress(), Progress::NeedMore);
    assert_eq!(m.feed('#'), matched("#", false));
    let m = matcher("<rule id='main'><item repeat='0-3'>5</item></rule>");
    assert_eq!(m.progress(), matched("", true));
}

#[test]
fn star_hash_letters_and_dtmf_prefixed_tokens() {
    let mut m = matcher("<rule id='main'>dtmf-* <token>#</token> a D</rule>");
    assert_eq!(feed_all(&mut m, "*#A"), Progress::NeedMore);
    assert_eq!(m.feed('d'), matched("*#AD", false));
    let mut m = matcher("<rule id='main'>1</rule>");
    assert_eq!(m.feed('x'), Progress::NoMatch);
}

#[test]
fn menu_tags_become_the_instance() {
    // Adhearsion's `menu`: one-of items tagged 0, 1, ...
    let mut m = matcher(
        "<rule id='main'><one-of>\
         <item>1<tag>0</tag></item>\
         <item>2 2<tag>'1'</tag></item>\
         <item><tag>help</tag>*</item></one-of></rule>",
    );
    let mut c = m.clone();
    assert_eq!(c.feed('1'), matched("0", false));
    let mut c = m.clone();
    assert_eq!(feed_all(&mut c, "22"), matched("1", false));
    assert_eq!(m.feed('*'), matched("help", false));
    let xml = crate::nlsml::dtmf_result_xml(m.digits(), "help");
    assert!(
        xml.contains("<instance>help</instance><input mode='dtmf'>*</input>"),
        "{xml}"
    );
}

#[test]
fn local_rulerefs_expand() {
    let mut m = matcher(&format!(
        "<rule id='digit'>{DIGIT}</rule>\
         <rule id='main'><ruleref uri='#digit'/><ruleref uri='#digit'/>#</rule>"
    ));
    assert_eq!(feed_all(&mut m, "42#"), matched("42#", false));
    // Without `root`, the first rule is the root.
    let g = parse_srgs(&format!(
        "<grammar xmlns='{NS_SRGS}' mode='dtmf'><rule id='a'>1<ruleref special='NULL'/></rule></grammar>"
    ))
    .unwrap();
    assert_eq!(Matcher::new(g).feed('1'), matched("1", false));
}

#[test]
fn void_branch_is_a_dead_end() {
    let mut m = matcher("<rule id='main'><one-of><item>1 <ruleref special='VOID'/></item><item>2</item></one-of></rule>");
    assert_eq!(m.clone().feed('1'), Progress::NoMatch);
    assert_eq!(m.feed('2'), matched("2", false));
}

#[test]
fn builtin_digits() {
    let mut m = Matcher::new(parse_builtin("builtin:dtmf/digits?length=3").unwrap());
    assert_eq!(feed_all(&mut m, "12"), Progress::NeedMore);
    assert_eq!(m.feed('3'), matched("123", false));
    let mut m = Matcher::new(parse_builtin("builtin:dtmf/digits?minlength=1;maxlength=2").unwrap());
    assert_eq!(m.feed('7'), matched("7", true));
    assert_eq!(m.feed('#'), Progress::NoMatch);
    let mut m = Matcher::new(parse_builtin("builtin:dtmf/digits").unwrap());
    assert_eq!(feed_all(&mut m, "123456"), matched("123456", true));
    assert!(parse_builtin("builtin:dtmf/digits?minlength=3;maxlength=2").is_err());
    assert!(parse_builtin("builtin:dtmf/digits?length=x").is_err());
    assert!(parse_builtin("builtin:dtmf/currency").is_err());
    assert!(parse_builtin("http://example.com/g.grxml").is_err());
}

#[test]
fn builtin_boolean() {
    let g = parse_builtin("builtin:dtmf/boolean?y=1;n=2").unwrap();
    assert_eq!(Matcher::new(g.clone()).feed('1'), matched("true", false));
    assert_eq!(Matcher::new(g.clone()).feed('2'), matched("false", false));
    assert_eq!(Matcher::new(g).feed('3'), Progress::NoMatch);
    let g = parse_builtin("builtin:dtmf/boolean?y=*;n=#").unwrap();
    assert_eq!(Matcher::new(g).feed('#'), matched("false", false));
}

#[test]
fn malformed_grammars_are_bad_requests() {
    assert!(refused("").contains("empty"));
    assert!(refused("<grammar").contains("not valid XML"));
    assert!(refused("<rule id='a'>1</rule>").contains("not <grammar>"));
    assert!(refused(&grammar("")).contains("no rule"));
    assert!(refused(&grammar("<rule id='main'>x</rule>")).contains("DTMF"));
    assert!(refused(&grammar("<rule id='main'><ruleref uri='#nope'/></rule>")).contains("nope"));
    assert!(refused(&grammar(
        "<rule id='main'><ruleref uri='http://x/g'/></rule>"
    ))
    .contains("local"));
    assert!(refused(&grammar(
        "<rule id='main'><item repeat='3-1'>1</item></rule>"
    ))
    .contains("repeat"));
    assert!(refused(&grammar("<rule id='main'><one-of>1</one-of></rule>")).contains("empty"));
    assert!(refused(&grammar("<rule id='main'><example>1</example></rule>")).contains("example"));
    let voice =
        format!("<grammar xmlns='{NS_SRGS}' mode='voice'><rule id='a'>yes</rule></grammar>");
    assert!(refused(&voice).contains("voice"));
    assert!(refused("<!DOCTYPE x><grammar/>").contains("not valid XML"));
}

#[test]
fn hostile_grammars_are_refused() {
    // Recursion, direct and indirect.
    assert!(refused(&grammar("<rule id='main'>1<ruleref uri='#main'/></rule>")).contains("itself"));
    assert!(refused(&grammar(
        "<rule id='main'><ruleref uri='#b'/></rule><rule id='b'><ruleref uri='#main'/></rule>"
    ))
    .contains("itself"));
    // A huge repeat, and nested repeats whose product is huge.
    assert!(refused(&grammar(
        "<rule id='main'><item repeat='100000'>1</item></rule>"
    ))
    .contains("exceeds"));
    let nested = "<item repeat='1000'><item repeat='1000'>1</item></item>";
    assert!(refused(&grammar(&format!("<rule id='main'>{nested}</rule>"))).contains("states"));
    // Rule references doubling at every level (2^40 once expanded).
    let mut rules = String::from("<rule id='r0'>1</rule>");
    for i in 1..=40 {
        let p = i - 1;
        rules.push_str(&format!(
            "<rule id='r{i}'><ruleref uri='#r{p}'/><ruleref uri='#r{p}'/></rule>"
        ));
    }
    let body = format!("<grammar xmlns='{NS_SRGS}' mode='dtmf' root='r40'>{rules}</grammar>");
    assert!(refused(&body).contains("too large"));
    // Deep nesting is stopped by the XML reader's depth limit.
    let deep = format!(
        "<rule id='main'>{}1{}</rule>",
        "<item>".repeat(100),
        "</item>".repeat(100)
    );
    assert!(refused(&grammar(&deep)).contains("not valid XML"));
    // Too many rules, and too many bytes.
    let many: String = (0..300)
        .map(|i| format!("<rule id='r{i}'>1</rule>"))
        .collect();
    assert!(refused(&grammar(&many)).contains("too many rules"));
    let big = grammar(&format!(
        "<rule id='main'>{}</rule>",
        "1 ".repeat(MAX_GRAMMAR_BYTES)
    ));
    assert!(refused(&big).contains("too large"));
}

#[test]
fn adhearsion_ask_limit_stays_small() {
    // `ask limit: N` builds repeat='0-N' over 0-9, * and #.
    let keys = format!(
        "<one-of>{}</one-of>",
        "0 1 2 3 4 5 6 7 8 9 * #"
            .split(' ')
            .map(|k| format!("<item>{k}</item>"))
            .collect::<String>()
    );
    let g = parse_srgs(&grammar(&format!(
        "<rule id='main'><item repeat='0-{MAX_REPEAT}'>{keys}</item></rule>"
    )))
    .unwrap();
    assert!(g.states() <= 3 * MAX_REPEAT as usize, "{}", g.states());
    let mut m = Matcher::new(g);
    assert_eq!(feed_all(&mut m, "12*#"), matched("12*#", true));
}

#[test]
fn rayo_grammar_elements() {
    let with_text = Element::new("grammar", crate::ns::INPUT)
        .attr("content-type", "application/srgs+xml")
        .text(grammar("<rule id='main'>1 2</rule>"));
    let mut m = Matcher::new(parse_grammar_element(&with_text).unwrap());
    assert_eq!(feed_all(&mut m, "12"), matched("12", false));

    let nested = Element::new("grammar", crate::ns::INPUT)
        .attr("content-type", "application/srgs+xml")
        .child(
            Element::new("grammar", NS_SRGS)
                .attr("mode", "dtmf")
                .child(Element::new("rule", NS_SRGS).attr("id", "a").text("7")),
        );
    assert_eq!(
        Matcher::new(parse_grammar_element(&nested).unwrap()).feed('7'),
        matched("7", false)
    );

    let builtin = Element::new("grammar", crate::ns::INPUT).attr("url", "builtin:dtmf/boolean");
    assert_eq!(
        Matcher::new(parse_grammar_element(&builtin).unwrap()).feed('1'),
        matched("true", false)
    );

    let empty =
        Element::new("grammar", crate::ns::INPUT).attr("content-type", "application/srgs+xml");
    assert!(parse_grammar_element(&empty)
        .unwrap_err()
        .text
        .contains("empty"));
    let voice = Element::new("grammar", crate::ns::INPUT)
        .attr("content-type", "text/plain")
        .text("yes");
    assert!(parse_grammar_element(&voice)
        .unwrap_err()
        .text
        .contains("text/plain"));
    assert!(parse_grammar_element(&Element::new("grammar", crate::ns::INPUT)).is_err());
}
