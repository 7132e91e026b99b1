//! Errors of instruction conversion, each with the span of the instruction.

use crate::ast::Span;

/// An instruction that is not valid, and where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct InstructionError {
    /// The instruction the error is about.
    pub span: Span,
    /// What is wrong.
    pub kind: InstructionErrorKind,
}

impl InstructionError {
    /// Where the offending instruction is.
    pub fn span(&self) -> Span {
        self.span
    }

    pub(super) fn new(span: Span, kind: InstructionErrorKind) -> Self {
        InstructionError { span, kind }
    }
}

/// What is wrong with an instruction. Instruction names are upper case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstructionErrorKind {
    /// A keyword that is not a Dockerfile instruction.
    #[error("unknown instruction: {keyword}")]
    UnknownInstruction {
        /// The keyword, upper case.
        keyword: String,
    },
    /// The file has no `FROM`.
    #[error("the dockerfile has no FROM instruction, so no stage to build")]
    NoStages,
    /// An instruction other than `ARG` before the first `FROM`.
    #[error("{instruction} instruction before the first FROM: only ARG may come before it")]
    BeforeFrom {
        /// The instruction.
        instruction: String,
    },
    /// `FROM` given to [`super::parse_command`], which converts the rest.
    #[error("FROM starts a stage and is not a command")]
    FromIsNotCommand,
    /// A flag word that does not start with `--`.
    #[error("{instruction}: flag should start with --: {word}")]
    MalformedFlag {
        /// The instruction.
        instruction: String,
        /// The word.
        word: String,
    },
    /// A flag the instruction does not take.
    #[error("unknown flag for {instruction}: --{flag}")]
    UnknownFlag {
        /// The instruction.
        instruction: String,
        /// The flag name, without `--`.
        flag: String,
    },
    /// A flag that may be given once, given twice.
    #[error("duplicate flag specified: --{flag}")]
    DuplicateFlag {
        /// The flag name.
        flag: String,
    },
    /// `--flag` without `=value` where a value is needed, or `--bool=`.
    #[error("missing a value on flag: --{flag}")]
    MissingFlagValue {
        /// The flag name.
        flag: String,
    },
    /// A boolean flag given something other than `true` or `false`.
    #[error("expecting boolean value for flag --{flag}, not: {value}")]
    InvalidBoolFlag {
        /// The flag name.
        flag: String,
        /// The value given.
        value: String,
    },
    /// No arguments where at least one is needed.
    #[error("{instruction} requires at least one argument")]
    AtLeastOneArgument {
        /// The instruction.
        instruction: String,
    },
    /// Not exactly one argument.
    #[error("{instruction} requires exactly one argument")]
    ExactlyOneArgument {
        /// The instruction.
        instruction: String,
    },
    /// `COPY`/`ADD` with a single argument.
    #[error("{instruction} requires at least two arguments, but only one was provided: destination could not be determined")]
    NoDestination {
        /// The instruction.
        instruction: String,
    },
    /// `COPY <<EOF` as the destination.
    #[error("{instruction} cannot accept a heredoc as a destination")]
    HeredocDestination {
        /// The instruction.
        instruction: String,
    },
    /// `ENV =x`, `ARG =x`.
    #[error("{instruction} names can not be blank")]
    BlankName {
        /// The instruction.
        instruction: String,
    },
    /// Key/value arguments that do not come in triples from the parser.
    #[error("bad input to {instruction}, too many arguments")]
    MalformedKeyValues {
        /// The instruction.
        instruction: String,
    },
    /// `FROM` with a wrong number of arguments.
    #[error("FROM requires either one or three arguments")]
    FromArguments,
    /// `FROM x AS 1bad`.
    #[error(
        "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
    )]
    InvalidStageName {
        /// The name as written.
        name: String,
    },
    /// Two stages with one name.
    #[error("duplicate stage name {name:?}")]
    DuplicateStageName {
        /// The lowercased name.
        name: String,
    },
    /// `SHELL` not in JSON form.
    #[error("{instruction} requires the arguments to be in JSON form")]
    NotJson {
        /// The instruction.
        instruction: String,
    },
    /// `ONBUILD ONBUILD ...`.
    #[error("chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")]
    OnbuildChain,
    /// `ONBUILD FROM` or `ONBUILD MAINTAINER`.
    #[error("{trigger} isn't allowed as an ONBUILD trigger")]
    OnbuildTrigger {
        /// The trigger instruction.
        trigger: String,
    },
    /// `HEALTHCHECK NONE something`.
    #[error("HEALTHCHECK NONE takes no arguments")]
    HealthcheckNoneArguments,
    /// `HEALTHCHECK --interval=1s NONE`.
    #[error("HEALTHCHECK NONE takes no flags, got --{flag}")]
    HealthcheckNoneFlags {
        /// The first flag given, without `--`.
        flag: String,
    },
    /// `HEALTHCHECK CMD` with nothing after it.
    #[error("missing command after HEALTHCHECK CMD")]
    HealthcheckMissingCommand,
    /// `HEALTHCHECK FOO`.
    #[error("unknown type {kind:?} in HEALTHCHECK (try CMD)")]
    HealthcheckType {
        /// The type word, upper case.
        kind: String,
    },
    /// A duration flag that Go's `time.ParseDuration` would not accept.
    #[error("invalid duration {value:?} for --{flag}")]
    InvalidDuration {
        /// The flag name.
        flag: String,
        /// The value given.
        value: String,
    },
    /// A duration below BuildKit's minimum of 1ms (zero means the default).
    #[error("interval --{flag} cannot be less than 1ms")]
    DurationTooShort {
        /// The flag name.
        flag: String,
    },
    /// `--retries` that is not a 32-bit integer.
    #[error("invalid value {value:?} for --retries: expected an integer")]
    InvalidRetries {
        /// The value given.
        value: String,
    },
    /// `--retries=-1`.
    #[error("--retries cannot be negative ({value})")]
    NegativeRetries {
        /// The value given.
        value: i64,
    },
    /// `VOLUME ""` or a blank JSON element.
    #[error("VOLUME specified can not be an empty string")]
    EmptyVolume,
}
