//! One compiled template as Weir runs it: minijinja's code generator output with the instructions that
//! can build unbounded values (`+`, `*`, `~`) swapped for the guarded functions of [`super::budget`],
//! run by minijinja's VM inside a render budget.
//!
//! This uses minijinja's `unstable_machinery` (`CompiledTemplate`, `Instructions`, `Vm`), which is why
//! the crate is pinned to one version in `Cargo.toml`: a minijinja upgrade is a deliberate change that
//! these tests (`tests.rs`, "budget") must pass again.

use std::sync::Arc;

use minijinja::machinery::{CompiledTemplate, Instruction, Instructions, TemplateConfig, Vm, WhitespaceConfig};
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, Error, State};

use super::budget::{ADD_FUNCTION, CONCAT_FUNCTION, MUL_FUNCTION, RENDER_BYTES, RenderBudget};

/// The name and text a compiled template borrows from.
struct Texts {
    name: String,
    source: String,
}

self_cell::self_cell!(
    struct Cell {
        owner: Texts,
        #[not_covariant]
        dependent: CompiledTemplate,
    }
);

/// A compiled template, cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub(crate) struct Program(Arc<Cell>);

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Program").field(&self.0.borrow_owner().name).finish()
    }
}

impl Program {
    /// Compiles `source` (whitespace as Weir's environment sets it: trailing newlines kept) and swaps the
    /// value-building instructions for guarded calls.
    pub(crate) fn compile(name: &str, source: String) -> Result<Program, Error> {
        let texts = Texts { name: name.to_string(), source };
        let cell = Cell::try_new(texts, |texts| {
            let mut compiled = CompiledTemplate::new(&texts.name, &texts.source, &config())?;
            guard(&mut compiled.instructions);
            for block in compiled.blocks.values_mut() {
                guard(block);
            }
            Ok::<_, Error>(compiled)
        })?;
        Ok(Program(Arc::new(cell)))
    }

    /// Runs the program with `root` as its context; `inspect` reads the variables it set. Returns the
    /// output and what `inspect` returned.
    pub(crate) fn run<R>(
        &self,
        env: &Environment<'static>,
        root: Value,
        inspect: impl FnOnce(&State<'_, '_>) -> R,
    ) -> Result<(String, R), Error> {
        let _budget = RenderBudget::enter(RENDER_BYTES);
        self.0.with_dependent(|_, compiled| {
            let mut output = String::with_capacity(compiled.buffer_size_hint);
            let mut out = minijinja::machinery::make_string_output(&mut output);
            let (_, state) =
                Vm::new(env).eval(&compiled.instructions, root, &compiled.blocks, &mut out, AutoEscape::None)?;
            let inspected = inspect(&state);
            Ok((output, inspected))
        })
    }
}

fn config() -> TemplateConfig {
    TemplateConfig {
        syntax_config: minijinja::syntax::SyntaxConfig,
        ws_config: WhitespaceConfig { keep_trailing_newline: true, lstrip_blocks: false, trim_blocks: false },
        default_auto_escape: Arc::new(|_| AutoEscape::None),
    }
}

/// Replaces `Add`, `Mul` and `StringConcat` by a call of the same arity (two values in, one out), so
/// jump targets stay where they are.
fn guard(instructions: &mut Instructions<'_>) {
    for idx in 0..instructions.len() {
        let Ok(idx) = u32::try_from(idx) else { break };
        if let Some(instruction) = instructions.get_mut(idx) {
            let function = match instruction {
                Instruction::Add => ADD_FUNCTION,
                Instruction::Mul => MUL_FUNCTION,
                Instruction::StringConcat => CONCAT_FUNCTION,
                _ => continue,
            };
            *instruction = Instruction::CallFunction(function, Some(2));
        }
    }
}
