import ArgumentParser
@main struct Scion: ParsableCommand {}
