//! The prompt component (`urn:xmpp:rayo:prompt:1`, RAYO.md §3.3): an
//! output and an input in one, and its Tropo ancestor `<ask
//! xmlns='urn:xmpp:tropo:ask:1'>` (an SSML `<prompt>` and `<choices>`),
//! read as the same thing with Tropo's completion spelling.

use xmpp::Element;

use crate::attrs::{self, put};
use crate::command::attr;
use crate::error::CommandError;
use crate::input::{parse_grammar, parse_input, GrammarSource, Input, InputMode};
use crate::ns;
use crate::output::{inline_ssml, parse_output, Document, Output, OutputForm};

/// Which element started the prompt; it decides the completion's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PromptForm {
    /// `<prompt xmlns='urn:xmpp:rayo:prompt:1'>`: input completion reasons.
    Prompt,
    /// `<ask xmlns='urn:xmpp:tropo:ask:1'>`: reasons in
    /// `urn:xmpp:tropo:ask:complete:1`.
    Ask,
}

/// A parsed prompt (or Tropo ask) command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// The element it came as.
    pub form: PromptForm,
    /// Whether the first key (or speech) stops the output; default true.
    pub barge_in: bool,
    /// What is played first.
    pub output: Output,
    /// What is collected; its timers start when the output ends.
    pub input: Input,
}

impl Prompt {
    /// The command element (`<prompt>` with output then input, or `<ask>`).
    pub fn to_element(&self) -> Element {
        match self.form {
            PromptForm::Prompt => {
                let mut e = Element::new("prompt", ns::PROMPT);
                if !self.barge_in {
                    e.set_attr("barge-in", "false");
                }
                e.child(self.output.to_element())
                    .child(self.input.to_element())
            }
            PromptForm::Ask => self.ask_element(),
        }
    }

    fn ask_element(&self) -> Element {
        let input = &self.input;
        let mut e = Element::new("ask", ns::TROPO_ASK);
        let mode = match input.mode {
            InputMode::Voice => "speech",
            other => other.name(),
        };
        e.set_attr("mode", mode);
        put(&mut e, "terminator", input.terminator);
        put(&mut e, "timeout", input.initial_timeout_ms);
        put(&mut e, "bargein", (!self.barge_in).then_some("false"));
        put(&mut e, "min-confidence", input.min_confidence);
        put(&mut e, "recognizer", input.recognizer.as_deref());
        put(&mut e, "voice", self.output.voice.as_deref());
        let mut prompt = Element::new("prompt", ns::TROPO_ASK);
        for d in &self.output.documents {
            if let Document::Inline { body, .. } = d {
                prompt.push_text(body.as_str());
            }
        }
        e.push(prompt);
        let choices = Element::new("choices", ns::TROPO_ASK);
        e.child(match input.grammars.first() {
            Some(GrammarSource::Url(url)) => choices.attr("url", url.as_str()),
            Some(GrammarSource::Inline { content_type, body }) => choices
                .attr("content-type", content_type.as_str())
                .text(body.as_str()),
            Some(GrammarSource::Choices(text)) => choices.text(text.as_str()),
            None => choices,
        })
    }
}

/// Parses `<prompt xmlns='urn:xmpp:rayo:prompt:1'>`: exactly one
/// `<output>` and one `<input>`, in either order.
pub fn parse_prompt(e: &Element) -> Result<Prompt, CommandError> {
    let barge_in = attrs::boolean(e, "barge-in", true)?;
    let mut output = None;
    let mut input = None;
    for c in e.children() {
        if c.is("output", ns::OUTPUT) {
            if output.replace(parse_output(c)?).is_some() {
                return Err(CommandError::bad_request("prompt has two <output>s"));
            }
        } else if c.is("input", ns::INPUT) && input.replace(parse_input(c)?).is_some() {
            return Err(CommandError::bad_request("prompt has two <input>s"));
        }
    }
    Ok(Prompt {
        form: PromptForm::Prompt,
        barge_in,
        output: output.ok_or_else(|| CommandError::bad_request("prompt needs an <output>"))?,
        input: input.ok_or_else(|| CommandError::bad_request("prompt needs an <input>"))?,
    })
}

/// Parses Tropo's `<ask xmlns='urn:xmpp:tropo:ask:1'>`: `mode`
/// (dtmf, speech, any), `terminator`, `timeout` (ms before `noinput`),
/// `bargein`, `min-confidence`, `recognizer`, `voice`, an SSML
/// `<prompt>` and one `<choices>` (SRGS by `content-type`, a `url`, or
/// simple choices such as `[4 DIGITS]`).
pub fn parse_ask(e: &Element) -> Result<Prompt, CommandError> {
    let mode = match attrs::choice(e, "mode", &["any", "dtmf", "speech", "voice"])? {
        None | Some("any") => InputMode::Any,
        Some("dtmf") => InputMode::Dtmf,
        Some(_) => InputMode::Voice,
    };
    let prompt = e
        .get_child("prompt", ns::TROPO_ASK)
        .ok_or_else(|| CommandError::bad_request("ask needs a <prompt>"))?;
    let mut output = Output::new(OutputForm::Say, vec![inline_ssml(prompt, "ask prompt")?]);
    output.voice = attrs::line(e, "voice")?;
    let mut all_choices = e.children().filter(|c| c.is("choices", ns::TROPO_ASK));
    let choices = all_choices
        .next()
        .ok_or_else(|| CommandError::bad_request("ask needs <choices>"))?;
    if all_choices.next().is_some() {
        return Err(CommandError::bad_request("ask takes one <choices>"));
    }
    let grammar = if attr(choices, "content-type").is_some() || attr(choices, "url").is_some() {
        parse_grammar(choices)?
    } else {
        let text = choices.text_content();
        if text.trim().is_empty() {
            return Err(CommandError::bad_request("ask <choices> are empty"));
        }
        GrammarSource::Choices(text)
    };
    if mode != InputMode::Voice {
        grammar.compile()?;
    }
    let mut input = Input::new(mode, vec![grammar]);
    input.terminator = attrs::dtmf_key(e, "terminator")?;
    input.initial_timeout_ms = attrs::limit(e, "timeout")?;
    input.min_confidence = attrs::ratio(e, "min-confidence")?;
    input.recognizer = attrs::line(e, "recognizer")?;
    Ok(Prompt {
        form: PromptForm::Ask,
        barge_in: attrs::boolean(e, "bargein", true)?,
        output,
        input,
    })
}

#[cfg(test)]
mod tests;
