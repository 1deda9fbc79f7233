import ArgumentParser
import Settings
import Store
import WorkerRuntime

/// `users`: account administration.
struct Users: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Manage users.", subcommands: [Add.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a user; the password is read from the first line of standard input and stored only as a bcrypt hash."
        )

        @OptionGroup var options: ConfigurationOptions
        @Option(help: "The user's email address (unique, case-insensitive).") var email: String
        @Flag(help: "Read the password from standard input (required: passwords never go on the command line).")
        var passwordStdin = false

        func validate() throws {
            guard passwordStdin else {
                throw ValidationError("pass the password on standard input with --password-stdin, e.g. printf %s \"$PASSWORD\" | scribes-assistant users add --email \(email) --password-stdin")
            }
        }

        func run() async throws {
            let (settings, _) = try options.load { reader throws(ConfigurationError) in
                (try DatabaseSettings(reading: reader), try AuthSettings.bcryptCost(reading: reader))
            }
            guard let password = readLine(strippingNewline: true) else {
                throw ValidationError("no password on standard input")
            }
            try await DataCommandContext.runCommand(settings.0) { context in
                let user = try await UserStore(pool: context.pool, threadPool: context.threadPool)
                    .addUser(email: email, password: password, bcryptCost: settings.1)
                print("added user \(user.id) <\(user.email)>")
            }
        }
    }
}
