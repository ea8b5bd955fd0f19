import BenchKit
import Testing

@Suite struct StatisticsTests {
    @Test func medianOfAnOddCountIsTheMiddleSample() {
        #expect(Statistics.median([7, 1, 3]) == 3)
        #expect(Statistics.median([42]) == 42)
    }

    @Test func medianOfAnEvenCountIsTheMeanOfTheTwoMiddleSamples() {
        #expect(Statistics.median([4, 1, 3, 2]) == 2.5)
        #expect(Statistics.median([10, 20]) == 15)
    }

    @Test func percentileIsTheNearestRankOfTheSortedSamples() {
        let hundred = (1...100).map(Double.init).shuffled()
        // Index ⌊100 × fraction⌋ of 1…100: the value one above the fraction's share.
        #expect(Statistics.percentile(hundred, 0.50) == 51)
        #expect(Statistics.percentile(hundred, 0.90) == 91)
        #expect(Statistics.percentile(hundred, 0.99) == 100)
        #expect(Statistics.percentile(hundred, 0) == 1)
    }

    @Test func percentilePastTheEndIsTheLargestSample() {
        let ten = [5.0, 1, 9, 3, 7, 2, 8, 4, 10, 6]
        #expect(Statistics.percentile(ten, 0.99) == 10)
        #expect(Statistics.percentile(ten, 1) == 10)
        #expect(Statistics.percentile([3], 0.5) == 3)
    }

    @Test func measuredFigureReportsMedianAndExtremes() {
        let figure = MeasuredFigure(spec: ReportFixture.put, samples: [900, 1100, 1000, 950])
        #expect(figure.median == 975)
        #expect(figure.minimum == 900)
        #expect(figure.maximum == 1100)
    }
}
