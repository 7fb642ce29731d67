import XCTest
@testable import Models

final class ModelsPlaceholderTests: XCTestCase {
    func testModuleLinks() { XCTAssertEqual("\(ModelsModule.self)", "ModelsModule") }
}
