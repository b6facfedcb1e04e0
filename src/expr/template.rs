//! minijinja templates compiled at build time: string templates and structured value templates.
